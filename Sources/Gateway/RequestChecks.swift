import CinemaHTTP
import HTTPTypes
import Hummingbird

/// What the gateway refuses before forwarding: requests it could not forward faithfully, or whose meaning an upstream
/// might read differently than the gateway's routing did. Each check throws a 400 that names the problem.
enum RequestChecks {
    /// The path and query must be ASCII without controls or spaces, with every `%` starting a valid escape, and the path
    /// must have no `.` or `..` segments (also percent-encoded ones).
    ///
    /// The HTTP parser has already turned bytes that are not UTF-8 into U+FFFD, and Foundation's URL parsing would
    /// silently re-encode a stray `%` as `%25`, so forwarding either would send the upstream a different request than
    /// the client's. Dot segments are refused rather than resolved so that no upstream can route a path such as
    /// `/movies/../payments` differently than the gateway's prefix match did.
    static func checkTarget(path: Substring, query: Substring?) throws {
        try checkCharacters(of: path, part: "path")
        if let query { try checkCharacters(of: query, part: "query") }
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) where segment.count <= 6 {
            let decoded = segment.lowercased().replacing("%2e", with: ".")
            if decoded == "." || decoded == ".." {
                throw APIError.badRequest("path must not contain \".\" or \"..\" segments")
            }
        }
    }

    private static func checkCharacters(of text: Substring, part: String) throws {
        let bytes = Array(text.utf8)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            guard (0x21...0x7E).contains(byte) else {
                throw APIError.badRequest("the request \(part) must be ASCII without spaces or controls; percent-encode other bytes")
            }
            if byte == UInt8(ascii: "%") {
                let escape = bytes[index..<min(index + 3, bytes.endIndex)]
                guard escape.count == 3, escape.dropFirst().allSatisfy(isHexDigit) else {
                    let shown = String(decoding: escape, as: UTF8.self)
                    throw APIError.badRequest("the request \(part) has an invalid percent-escape \"\(shown)\"")
                }
                index += 3
            } else {
                index += 1
            }
        }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"):
            return true
        default:
            return false
        }
    }

    /// RFC 9110 §9.3.8: a TRACE request must not have content. The upstream client refuses to send one, which would
    /// otherwise surface as a 502 for what is the client's mistake.
    static func checkTraceHasNoBody(_ request: Request) throws {
        guard request.method == .trace else { return }
        let declaresContent = request.headers[.contentLength].map { $0 != "0" } ?? false
        if declaresContent || request.headers.contains(.transferEncoding) {
            throw APIError.badRequest("a TRACE request must not have a body")
        }
    }

    /// RFC 9112 §3.2: a request with more than one Host field, or an invalid one, must be answered 400. The first Host
    /// became the request's authority; any other is still among the header fields.
    static func checkHost(_ request: Request) throws {
        if request.headers.contains(where: { $0.name.canonicalName == "host" }) {
            throw APIError.badRequest("the request has more than one Host header")
        }
        if let authority = request.head.authority, !isValidAuthority(authority) {
            throw APIError.badRequest("the Host header is not a valid host[:port]")
        }
    }

    /// `host[:port]` with a registered name or IPv4 address, or `[IPv6]:port`; no user info, no path, port 0...65535.
    static func isValidAuthority(_ authority: String) -> Bool {
        var host = Substring(authority)
        if let colon = authority.lastIndex(of: ":"), !authority[colon...].contains("]") {
            let port = authority[authority.index(after: colon)...]
            // An empty port is allowed by RFC 3986 ("example.com:").
            guard port.allSatisfy(\.isASCIIDigit), port.count <= 5, Int(port).map({ $0 <= 65_535 }) ?? true else { return false }
            host = authority[..<colon]
        }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { return false }
            return host.dropFirst().dropLast().allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        let allowedPunctuation = Set("-._~!$&'()*+,;=%")
        return host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || allowedPunctuation.contains($0)) }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { self.isASCII && self.isNumber }
}
