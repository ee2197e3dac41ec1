import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import Gateway

/// Conversions of values that come from requests, the environment or upstreams: none may trap, each has a fallback.
@Suite("Conversions")
struct ConversionTests {
    @Test(
        arguments: [
            ("gateway.test:8088", 8088), ("gateway.test", nil), ("gateway.test:", nil), ("a:99999999999999999999999", nil),
            ("a:-5", nil), ("a:+80", nil), ("a:65536", nil), ("a:65535", 65535), ("[::1]:8080", 8080), ("[::1]", nil),
            (":", nil), ("", nil),
        ] as [(String, Int?)])
    func portOfAuthorityNeverTraps(authority: String, port: Int?) {
        #expect(ForwardedHeaders.port(ofAuthority: authority) == port)
    }

    @Test(arguments: [
        ("gateway.test", true), ("gateway.test:8088", true), ("127.0.0.1:1", true), ("[::1]:8080", true), ("[::1]", true),
        ("localhost:", true), ("", true), ("evil.example/x", false), ("user@evil.example", false), ("a:99999", false),
        ("a:123456789012345678901234567890", false), ("a b", false), ("[::1", false), ("[]", false), ("é.example", false),
        ("a:8o", false),
    ])
    func hostHeaderValidation(authority: String, isValid: Bool) {
        #expect(RequestChecks.isValidAuthority(authority) == isValid)
    }

    /// NIO already refuses raw bytes above 0x7F in a request line; these checks stand behind it for targets that reach
    /// the router some other way (an absolute-form target rewritten by the HTTP types conversion, say).
    @Test(
        arguments: [
            ("/movies/1", nil, nil), ("/movies/é", nil, "must be ASCII"), ("/movies/\u{FFFD}", nil, "must be ASCII"),
            ("/movies", "q=a b", "must be ASCII"), ("/movies", "q=\u{7F}", "must be ASCII"),
            ("/movies/%zz", nil, #"invalid percent-escape "%zz""#), ("/movies/%4", nil, #"invalid percent-escape "%4""#),
            ("/movies", "q=%", #"invalid percent-escape "%""#), ("/movies/%2E%2e", nil, "segments"), ("/movies/.", nil, "segments"),
            ("/movies/...", nil, nil), ("/movies/.hidden", nil, nil), ("/movies", "..", nil), ("/movies/%41%2f", nil, nil),
        ] as [(String, String?, String?)])
    func requestTargetChecks(path: String, query: String?, problem: String?) {
        do {
            try RequestChecks.checkTarget(path: Substring(path), query: query.map { Substring($0) })
            #expect(problem == nil, "accepted")
        } catch {
            #expect((error as? any HTTPResponseError)?.status == .badRequest)
            #expect(problem.map { "\(error)".contains($0) } == true, "\(error)")
        }
    }

    @Test(arguments: [
        (Duration.milliseconds(300), "300 ms"), (.seconds(10), "10 s"), (.milliseconds(1500), "1500 ms"),
        (.seconds(Int64.max), "\(Int64.max) s"), (.seconds(Int64.max) + .milliseconds(5), "\(Int64.max) s"),
    ])
    func durationsAreDescribedWithoutOverflow(duration: Duration, text: String) {
        #expect(UpstreamFailure.describe(duration) == text)
    }

    @Test(arguments: [
        ("order-4711", true), ("", false), (String(repeating: "a", count: 128), true), (String(repeating: "a", count: 129), false),
        ("with space", false), ("tab\there", false), ("naïve", false),
    ])
    func clientCorrelationIDsAreTakenOnlyWhenUsable(id: String, isUsable: Bool) {
        #expect(CorrelationIDMiddleware<BasicRequestContext>.isUsable(id) == isUsable)
    }

    @Test(arguments: [
        ("PORT", "99999999999999999999999"), ("GATEWAY_UPSTREAM_TIMEOUT_MS", "99999999999999999999999"),
        ("GATEWAY_MAX_BODY_SIZE", "-1"), ("GATEWAY_MAX_HEADER_SIZE", "0"), ("GATEWAY_IDLE_TIMEOUT_MS", "soon"),
        ("PAYMENT_URL", "not a url"), ("PAYMENT_URL", "ftp://payment"), ("PAYMENT_URL", "http://"),
    ])
    func unusableEnvironmentValuesFallBackToDefaults(name: String, value: String) {
        let defaults = GatewayConfiguration.fromEnvironment([:])
        let configuration = GatewayConfiguration.fromEnvironment([name: value])
        #expect(configuration.port == defaults.port)
        #expect(configuration.upstreamTimeout == defaults.upstreamTimeout)
        #expect(configuration.maxBodySize == defaults.maxBodySize)
        #expect(configuration.maxHeaderSize == defaults.maxHeaderSize)
        #expect(configuration.idleTimeout == defaults.idleTimeout)
        #expect(configuration.routes == defaults.routes)
    }

    @Test func limitsComeFromTheEnvironment() {
        let configuration = GatewayConfiguration.fromEnvironment([
            "GATEWAY_MAX_HEADER_SIZE": "32768", "GATEWAY_IDLE_TIMEOUT_MS": "1500",
        ])
        #expect(configuration.maxHeaderSize == 32768)
        #expect(configuration.idleTimeout == .milliseconds(1500))
        #expect(GatewayConfiguration.fromEnvironment([:]).maxHeaderSize == 65536)
        #expect(GatewayConfiguration.fromEnvironment([:]).idleTimeout == .seconds(60))
    }

    @Test func overlongCorrelationIDsAreReplacedEndToEnd() async throws {
        try await withUpstream(Upstream.echo(name: "movie")) { port in
            let routes = [GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: url(port))]
            try await withGateway(routes: routes) { client in
                let sent = String(repeating: "x", count: 4096)
                let response = try await client.execute(uri: "/movies", method: .get, headers: [.correlationID: sent])
                let used = try #require(response.headers[.correlationID])
                #expect(UUID(uuidString: used) != nil)
                #expect(try response.decode(Echo.self).header("x-correlation-id") == used)
            }
        }
    }

    /// An upstream that switches protocols cannot be proxied; the gateway says so instead of relaying a broken 101.
    @Test func upstreamSwitchingProtocolsIsA502() async throws {
        let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        try await withRawUpstream(answering: Array(answer.utf8)) { port in
            let routes = [GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: url(port))]
            try await withGateway(routes: routes) { client in
                let response = try await client.execute(uri: "/movies", method: .get)
                #expect(response.status == .badGateway)
                #expect(response.bodyString.contains("answered with status 101"))
                #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            }
        }
    }
}

/// A TCP server that answers every connection's first bytes with `answer` and then closes, for upstream behaviour
/// no HTTP server library produces.
func withRawUpstream<Value: Sendable>(
    answering answer: [UInt8],
    _ body: @Sendable (_ port: Int) async throws -> Value
) async throws -> Value {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(FixedAnswerHandler(answer: answer))
            }
        }
        .bind(host: "127.0.0.1", port: 0)
        .get()
    let result: Result<Value, any Error>
    do {
        result = .success(try await body(try #require(server.localAddress?.port)))
    } catch {
        result = .failure(error)
    }
    try await server.close()
    return try result.get()
}

private final class FixedAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let answer: [UInt8]
    private var answered = false

    init(answer: [UInt8]) {
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.answered else { return }
        self.answered = true
        // The flushed answer is handed to the socket before the close is processed.
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: self.answer)), promise: nil)
        context.close(promise: nil)
    }
}
