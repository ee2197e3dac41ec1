import Foundation
import Testing

/// What one response (or the connection) must look like.
enum HostileOutcome: Sendable {
    /// The echo upstream answered 200 and saw this method, target and number of body bytes.
    case forwarded(method: String = "GET", target: String, bodyBytes: Int = 0)
    /// The gateway answered itself with this status and a JSON error whose message contains `message`.
    case refused(Int, message: String, path: ErrorPath = .unchecked)
    /// The connection was closed without any answer.
    case closedWithoutAnswer
    /// This status, then the connection closed: NIO sends answers to CONNECT without their body or length.
    case refusedWithoutBodyThenClosed(Int)
}

/// What the `path` member of a JSON error must be.
enum ErrorPath: Sendable, Equatable {
    case unchecked
    /// Left out, because the request line could not be read.
    case absent
    case value(String)
}

/// One hostile request, sent on a raw connection, and what the gateway must make of it.
struct HostileCase: Sendable, CustomTestStringConvertible {
    let name: String
    let chunks: [[UInt8]]
    var pause: Duration = .zero
    var halfClose = false
    var readUntil: RawHTTP.ReadUntil = .responses(1)
    let outcomes: [HostileOutcome]
    /// The gateway streams bodies, so a body found bad while streaming (malformed, too long, cut short) is refused
    /// after the upstream got the head: the upstream sees an upload start and abort, but never completes it.
    var isStreamedBeforeRefusal = false

    var testDescription: String { self.name }

    init(_ name: String, _ request: [UInt8], _ outcome: HostileOutcome, isStreamedBeforeRefusal: Bool = false) {
        self.name = name
        self.chunks = [request]
        self.outcomes = [outcome]
        self.isStreamedBeforeRefusal = isStreamedBeforeRefusal
    }

    init(
        _ name: String,
        chunks: [[UInt8]],
        pause: Duration = .zero,
        halfClose: Bool = false,
        readUntil: RawHTTP.ReadUntil = .responses(1),
        isStreamedBeforeRefusal: Bool = false,
        _ outcomes: [HostileOutcome]
    ) {
        self.name = name
        self.chunks = chunks
        self.pause = pause
        self.halfClose = halfClose
        self.readUntil = readUntil
        self.isStreamedBeforeRefusal = isStreamedBeforeRefusal
        self.outcomes = outcomes
    }
}

/// The bytes of a request: the request line, the header lines and the body exactly as given; nothing is added.
func raw(_ requestLine: String, _ headers: [String] = ["Host: gateway.test"], body: [UInt8] = []) -> [UInt8] {
    Array((requestLine + "\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n").utf8) + body
}

func raw(_ requestLine: String, _ headers: [String] = ["Host: gateway.test"], body: String) -> [UInt8] {
    raw(requestLine, headers, body: Array(body.utf8))
}

/// The gateway under test takes bodies up to this size.
let hostileBodyLimit = 64 * 1024

enum HostileCases {
    static let host = "Host: gateway.test"
    static let longQuery = String(repeating: "q=abcdefghij&", count: 1200)  // about 16 KiB
    static let manyParameters = (0..<4000).map { "p\($0)=\($0)" }.joined(separator: "&")
    static let deepJSON = String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000)
    static let oversized = [UInt8](repeating: 0x41, count: hostileBodyLimit + 1)

    static let queries: [HostileCase] = [
        .init(
            "page and size at Int64.max", raw("GET /movies?page=9223372036854775807&size=9223372036854775807 HTTP/1.1"),
            .forwarded(target: "/movies?page=9223372036854775807&size=9223372036854775807")),
        .init(
            "page beyond Int64", raw("GET /movies?page=99999999999999999999999&size=-1 HTTP/1.1"),
            .forwarded(target: "/movies?page=99999999999999999999999&size=-1")),
        .init("encoded NUL in the query", raw("GET /movies?desc=%00 HTTP/1.1"), .forwarded(target: "/movies?desc=%00")),
        .init(
            "invalid percent-escape in the query", raw("GET /movies?desc=%zz HTTP/1.1"), .refused(400, message: #"percent-escape "%zz""#)),
        .init("truncated percent-escape", raw("GET /movies?desc=% HTTP/1.1"), .refused(400, message: #"percent-escape "%""#)),
        .init("16 KiB query", raw("GET /movies?\(longQuery) HTTP/1.1"), .forwarded(target: "/movies?\(longQuery)")),
        .init("4000 query parameters", raw("GET /movies?\(manyParameters) HTTP/1.1"), .forwarded(target: "/movies?\(manyParameters)")),
        .init(
            "query over the head limit", raw("GET /movies?q=\(String(repeating: "x", count: 100_000)) HTTP/1.1"),
            .refused(431, message: "exceed the gateway's limit")),
    ]

    static let paths: [HostileCase] = [
        .init(
            "id beyond Int64", raw("GET /movies/99999999999999999999999999 HTTP/1.1"),
            .forwarded(target: "/movies/99999999999999999999999999")),
        .init("id below Int64", raw("GET /movies/-9223372036854775809 HTTP/1.1"), .forwarded(target: "/movies/-9223372036854775809")),
        // NIO's parser already refuses bytes above 0x7F in the request line.
        .init(
            "invalid UTF-8 in the path", Array("GET /movies/".utf8) + [0xFF, 0xFE, 0x80] + raw(" HTTP/1.1"),
            .refused(400, message: "invalid request target")),
        .init("raw UTF-8 in the path", raw("GET /movies/é HTTP/1.1"), .refused(400, message: "invalid request target")),
        .init("control byte in the path", raw("GET /movies/\u{1}x HTTP/1.1"), .refused(400, message: "invalid request target")),
        .init("encoded NUL in the path", raw("GET /movies/%00 HTTP/1.1"), .forwarded(target: "/movies/%00")),
        .init("invalid percent-escape in the path", raw("GET /movies/%zz HTTP/1.1"), .refused(400, message: "invalid percent-escape")),
        .init(
            "dot-dot out of the prefix", raw("GET /movies/../payments HTTP/1.1"),
            .refused(400, message: #"".." segments"#, path: .value("/movies/../payments"))),
        .init("encoded dot-dot", raw("GET /movies/%2e%2E/payments HTTP/1.1"), .refused(400, message: #"".." segments"#)),
        .init("single dot segment", raw("GET /movies/./1 HTTP/1.1"), .refused(400, message: #"".." segments"#)),
        .init("double slash inside", raw("GET /movies//1 HTTP/1.1"), .forwarded(target: "/movies//1")),
        .init("double slash first", raw("GET //movies HTTP/1.1"), .refused(404, message: "no resource at //movies")),
        .init("encoded slash", raw("GET /movies/1%2F2 HTTP/1.1"), .forwarded(target: "/movies/1%2F2")),
        .init("encoded slash after the prefix", raw("GET /movies%2F1 HTTP/1.1"), .refused(404, message: "no resource")),
        .init("absolute-form target", raw("GET http://evil.example/movies/1 HTTP/1.1"), .forwarded(target: "/movies/1")),
        .init("fragment", raw("GET /movies/1#top HTTP/1.1"), .forwarded(target: "/movies/1")),
        .init("pipes and braces", raw("GET /movies?f={a|b} HTTP/1.1"), .forwarded(target: "/movies?f=%7Ba%7Cb%7D")),
    ]

    static let bodies: [HostileCase] = [
        .init(
            "deeply nested JSON",
            raw("POST /movies HTTP/1.1", [host, "Content-Type: application/json", "Content-Length: 60000"], body: deepJSON),
            .forwarded(method: "POST", target: "/movies", bodyBytes: 60_000)),
        .init(
            "invalid UTF-8 body",
            raw("POST /movies HTTP/1.1", [host, "Content-Type: application/json", "Content-Length: 3"], body: [0xC3, 0x28, 0xFF]),
            .forwarded(method: "POST", target: "/movies", bodyBytes: 3)),
        .init(
            "Content-Length over the limit", raw("POST /movies HTTP/1.1", [host, "Content-Length: \(oversized.count)"], body: oversized),
            .refused(413, message: "exceeds the gateway limit")),
        .init(
            "Content-Length over the limit, body never sent", raw("POST /movies HTTP/1.1", [host, "Content-Length: 99999999999"]),
            .refused(413, message: "exceeds the gateway limit")),
        .init(
            "chunked body over the limit",
            raw(
                "POST /movies HTTP/1.1", [host, "Transfer-Encoding: chunked"],
                body: Array("10001\r\n".utf8) + oversized + Array("\r\n0\r\n\r\n".utf8)),
            .refused(413, message: "exceeds the gateway limit"), isStreamedBeforeRefusal: true),
        .init(
            "wrong content type", raw("POST /movies HTTP/1.1", [host, "Content-Type: image/png", "Content-Length: 2"], body: "{}"),
            .forwarded(method: "POST", target: "/movies", bodyBytes: 2)),
        .init(
            "malformed content type", raw("POST /movies HTTP/1.1", [host, "Content-Type: ;;==;", "Content-Length: 2"], body: "{}"),
            .forwarded(method: "POST", target: "/movies", bodyBytes: 2)),
        .init(
            "malformed chunk size", raw("POST /movies HTTP/1.1", [host, "Transfer-Encoding: chunked"], body: "zz\r\nabc\r\n0\r\n\r\n"),
            .refused(400, message: "malformed chunked body", path: .value("/movies")), isStreamedBeforeRefusal: true),
        .init(
            "chunk size beyond 64 bits",
            raw("POST /movies HTTP/1.1", [host, "Transfer-Encoding: chunked"], body: "FFFFFFFFFFFFFFFFFFFF\r\nabc\r\n"),
            .refused(400, message: "malformed chunked body"), isStreamedBeforeRefusal: true),
        .init(
            "Transfer-Encoding gzip", raw("POST /movies HTTP/1.1", [host, "Transfer-Encoding: gzip"], body: "abc"),
            .refused(400, message: "Transfer-Encoding that does not end in chunked"), isStreamedBeforeRefusal: true),
        .init(
            "Transfer-Encoding chunked, identity",
            raw("POST /movies HTTP/1.1", [host, "Transfer-Encoding: chunked, identity"], body: "0\r\n\r\n"),
            .refused(400, message: "malformed HTTP request")),
        .init(
            "Transfer-Encoding with Content-Length",
            raw("POST /movies HTTP/1.1", [host, "Transfer-Encoding: chunked", "Content-Length: 5"], body: "0\r\n\r\n"),
            .refused(400, message: "sent together with Transfer-Encoding")),
        .init(
            "two different Content-Lengths", raw("POST /movies HTTP/1.1", [host, "Content-Length: 2", "Content-Length: 3"], body: "{}x"),
            .refused(400, message: "Content-Length is repeated")),
        .init(
            "negative Content-Length", raw("POST /movies HTTP/1.1", [host, "Content-Length: -1"]),
            .refused(400, message: "invalid Content-Length")),
        .init(
            "Expect: 100-continue", raw("POST /movies HTTP/1.1", [host, "Expect: 100-continue", "Content-Length: 2"], body: "{}"),
            .forwarded(method: "POST", target: "/movies", bodyBytes: 2)),
    ]
}
