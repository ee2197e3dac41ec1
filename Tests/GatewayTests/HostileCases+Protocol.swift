import Foundation

extension HostileCases {
    static let headers: [HostileCase] = [
        .init(
            "duplicate Host", raw("GET /movies HTTP/1.1", [host, "Host: evil.example"]), .refused(400, message: "more than one Host header")
        ),
        .init("Host with a path", raw("GET /movies HTTP/1.1", ["Host: evil.example/x"]), .refused(400, message: "not a valid host[:port]")),
        .init(
            "Host with user info", raw("GET /movies HTTP/1.1", ["Host: user@evil.example"]),
            .refused(400, message: "not a valid host[:port]")),
        .init(
            "Host port beyond 65535", raw("GET /movies HTTP/1.1", ["Host: gateway.test:99999"]),
            .refused(400, message: "not a valid host[:port]")),
        .init("no Host on HTTP/1.1", raw("GET /movies HTTP/1.1", []), .forwarded(target: "/movies")),
        .init(
            "header value over the head limit", raw("GET /movies HTTP/1.1", [host, "X-Big: \(String(repeating: "b", count: 70_000))"]),
            .refused(431, message: "exceed the gateway's limit")),
        .init(
            "600 header fields", raw("GET /movies HTTP/1.1", [host] + (0..<600).map { "X-F\($0): \($0)" }),
            .refused(431, message: "exceed the gateway's limit")),
        .init(
            "400 header fields", raw("GET /movies HTTP/1.1", [host] + (0..<400).map { "X-F\($0): \($0)" }), .forwarded(target: "/movies")),
        .init(
            "space in a header name", raw("GET /movies HTTP/1.1", [host, "Bad Header: x"]), .refused(400, message: "malformed header field")
        ),
        .init("obsolete line folding", raw("GET /movies HTTP/1.1", [host, "X-Folded: a", " b"]), .refused(400, message: "malformed")),
        .init("NUL in a header value", raw("GET /movies HTTP/1.1", [host, "X-Nul: a\u{0}b"]), .refused(400, message: "malformed")),
    ]

    static let methods: [HostileCase] = [
        .init("unknown method FOO", raw("FOO /movies HTTP/1.1"), .refused(400, message: "unknown method", path: .absent)),
        .init("lower-case get", raw("get /movies HTTP/1.1"), .refused(400, message: "unknown method")),
        .init("PROPFIND", raw("PROPFIND /movies HTTP/1.1"), .forwarded(method: "PROPFIND", target: "/movies")),
        .init("PROPFIND on payments", raw("PROPFIND /payments HTTP/1.1"), .refused(405, message: "not allowed on /payments")),
        .init("TRACE", raw("TRACE /movies HTTP/1.1"), .forwarded(method: "TRACE", target: "/movies")),
        // Found by make fuzz-api: the upstream client refused the body, and the gateway answered 502.
        .init(
            "TRACE with a body", raw("TRACE /movies/1 HTTP/1.1", [host, "Content-Length: 2"], body: "{}"),
            .refused(400, message: "TRACE request must not have a body")),
        .init(
            "TRACE with a chunked body",
            raw("TRACE /movies/1 HTTP/1.1", [host, "Transfer-Encoding: chunked"], body: "2\r\n{}\r\n0\r\n\r\n"),
            .refused(400, message: "TRACE request must not have a body")),
        .init(
            "TRACE with an empty body", raw("TRACE /movies HTTP/1.1", [host, "Content-Length: 0"]),
            .forwarded(method: "TRACE", target: "/movies")),
        .init("CONNECT to a route", chunks: [raw("CONNECT /movies HTTP/1.1")], readUntil: .close, [.refusedWithoutBodyThenClosed(400)]),
        .init(
            "CONNECT to a host", chunks: [raw("CONNECT evil.example:443 HTTP/1.1")], readUntil: .close, [.refusedWithoutBodyThenClosed(400)]
        ),
    ]

    static let protocols: [HostileCase] = [
        .init("HTTP/1.0 without Host", raw("GET /movies HTTP/1.0", []), .forwarded(target: "/movies")),
        .init("HTTP/2.0 in the request line", raw("GET /movies HTTP/2.0"), .refused(400, message: "unsupported HTTP version")),
        .init(
            "HTTP/2 connection preface", Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), .refused(400, message: "unsupported HTTP version")),
        .init(
            "TLS handshake on the plain port", [0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03],
            .refused(400, message: "malformed")),
        .init(
            "two pipelined requests", chunks: [raw("GET /movies/1 HTTP/1.1") + raw("GET /movies/2 HTTP/1.1")], readUntil: .responses(2),
            [.forwarded(target: "/movies/1"), .forwarded(target: "/movies/2")]),
    ]

    /// Framing lies and connection tricks; these run against a gateway with a 1 s upstream timeout and a 3 s idle timeout.
    static let connections: [HostileCase] = [
        .init("connection closed at once", chunks: [], halfClose: true, readUntil: .close, [.closedWithoutAnswer]),
        .init("HTTP/0.9 request", chunks: [Array("GET /movies\r\n".utf8)], readUntil: .close, [.closedWithoutAnswer]),
        .init(
            "slowloris: partial head, then silence", chunks: [Array("GET /movies HTTP/1.1\r\nHost: gateway.test\r\nX-Slow: ".utf8)],
            readUntil: .close, [.closedWithoutAnswer]),
        .init(
            "slowloris: one byte every 200 ms", chunks: raw("GET /movies HTTP/1.1", [host, "X-Slow: 0123456789"]).map { [$0] },
            pause: .milliseconds(200), readUntil: .close, [.closedWithoutAnswer]),
        .init(
            "Content-Length shorter than the body", chunks: [raw("POST /movies HTTP/1.1", [host, "Content-Length: 5"], body: #"{"a":1}"#)],
            readUntil: .close,
            [.forwarded(method: "POST", target: "/movies", bodyBytes: 5), .refused(400, message: "unknown method", path: .absent)]),
        .init(
            "Content-Length longer than the body, then half-close",
            chunks: [raw("POST /movies HTTP/1.1", [host, "Content-Length: 100"], body: "0123456789")], halfClose: true,
            isStreamedBeforeRefusal: true, [.refused(400, message: "ended")]),
        .init(
            "Content-Length longer than the body, then a stall",
            chunks: [raw("POST /movies HTTP/1.1", [host, "Content-Length: 100"], body: "0123456789")],
            isStreamedBeforeRefusal: true,
            [.refused(408, message: "the request body did not arrive within \(hostileUpstreamTimeoutSeconds) s")]),
    ]

    static let all = queries + paths + bodies + headers + methods + protocols + connections
}
