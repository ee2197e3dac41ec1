import CinemaHTTP
import Foundation
import HTTPTypes
import Hummingbird
import NIOHTTP1

/// Header rewriting between the client-facing and the upstream-facing connection.
enum ForwardedHeaders {
    /// RFC 9110 §7.6.1 connection-specific fields, plus `Proxy-Connection` that old clients still send.
    /// Names are in HTTPTypes' canonical (lower-case) form.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "proxy-connection",
    ]

    /// Fields never copied upstream besides hop-by-hop ones: AsyncHTTPClient derives Host and the body framing
    /// from the upstream URL and body, and the gateway does not run the 100-continue handshake itself.
    private static let replacedUpstream: Set<String> = ["host", "content-length", "expect", "x-forwarded-for", "cookie"]

    static func upstreamHeaders(for request: Request, clientAddress: String?) -> HTTPHeaders {
        let headers = request.headers
        let dropped = hopByHop.union(replacedUpstream).union(connectionListed(in: headers))
        var upstream = HTTPHeaders()
        for field in headers where !dropped.contains(field.name.canonicalName) {
            upstream.add(name: field.name.rawName, value: field.value)
        }
        // HTTP/1.1 allows a single Cookie line; HTTPFields joins repeated ones with "; ".
        if let cookie = headers[.cookie] {
            upstream.add(name: "Cookie", value: cookie)
        }

        let forwardedFor = headers[values: .xForwardedFor] + (clientAddress.map { [$0] } ?? [])
        if !forwardedFor.isEmpty {
            upstream.add(name: "X-Forwarded-For", value: forwardedFor.joined(separator: ", "))
        }
        // Values set by a proxy in front of us (an ingress) describe the client's view better than ours, and the
        // services build their HAL links from them, so they are kept.
        let authority = request.head.authority
        if !headers.contains(.xForwardedHost), let authority {
            upstream.add(name: "X-Forwarded-Host", value: authority)
        }
        if !headers.contains(.xForwardedProto) {
            upstream.add(name: "X-Forwarded-Proto", value: request.head.scheme ?? "http")
        }
        if !headers.contains(.xForwardedPort) {
            let port = authority.flatMap(port(ofAuthority:)) ?? (request.head.scheme == "https" ? 443 : 80)
            upstream.add(name: "X-Forwarded-Port", value: String(port))
        }
        return upstream
    }

    static func downstreamHeaders(from upstream: HTTPHeaders) -> HTTPFields {
        let dropped = hopByHop.union(connectionListed(in: upstream[canonicalForm: "connection"].map(String.init)))
        var fields = HTTPFields()
        fields.reserveCapacity(upstream.count)
        for (name, value) in upstream {
            // Field names AsyncHTTPClient accepted are valid tokens, so the initialiser only fails on garbage.
            guard let fieldName = HTTPField.Name(name), !dropped.contains(fieldName.canonicalName) else { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        return fields
    }

    private static func connectionListed(in headers: HTTPFields) -> Set<String> {
        connectionListed(in: headers[values: .connection])
    }

    /// Names listed in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
    private static func connectionListed(in values: [String]) -> Set<String> {
        Set(
            values.flatMap { $0.split(separator: ",") }
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                .filter { !$0.isEmpty }
        )
    }

    /// The port of `host[:port]` or `[v6]:port`, if it names a valid one (digits only, at most 65535).
    static func port(ofAuthority authority: String) -> Int? {
        guard let colon = authority.lastIndex(of: ":") else { return nil }
        if let closingBracket = authority.lastIndex(of: "]"), closingBracket > colon { return nil }
        let digits = authority[authority.index(after: colon)...]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits).flatMap { (0...65_535).contains($0) ? $0 : nil }
    }
}
