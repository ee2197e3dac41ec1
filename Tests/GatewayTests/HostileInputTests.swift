import Foundation
import Gateway
import HTTPTypes
import HummingbirdTesting
import Testing

/// Every hostile request goes through the real gateway, on a raw connection, to a live echo upstream. Whatever it is,
/// the gateway answers a 4xx naming the problem in the JSON error shape (or forwards it, when the request is
/// legitimate, and passes the upstream's answer through), never a 5xx of its own, and serves the next request.
/// Generous: the 70 cases run side by side, each with its own gateway and upstream, on a machine
/// that may be busy; only the stalled-body case waits it out. Below the idle timeout, so that the
/// stalled body is answered (408) before the connection is closed as idle.
let hostileUpstreamTimeoutSeconds = 3
let hostileUpstreamTimeout = Duration.seconds(hostileUpstreamTimeoutSeconds)

@Suite("Hostile input")
struct HostileInputTests {
    @Test(arguments: HostileCases.all)
    func isAnsweredWithoutA5xxAndTheGatewayKeepsServing(_ hostile: HostileCase) async throws {
        let calls = Counter()
        let completed = Counter()
        try await withUpstream(Upstream.echo(name: "echo", calls: calls, completed: completed)) { upstreamPort in
            let routes = [
                GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: url(upstreamPort)),
                GatewayRoute(prefix: "/payments", upstreamName: "payment", upstream: url(upstreamPort), methods: [.get, .head]),
            ]
            try await withGateway(
                routes: routes,
                upstreamTimeout: hostileUpstreamTimeout,
                maxBodySize: hostileBodyLimit,
                idleTimeout: .seconds(5)
            ) { gateway in
                let port = try #require(gateway.port)
                let exchange = try await RawHTTP.exchange(
                    port: port,
                    sending: hostile.chunks,
                    pausingBetweenChunks: hostile.pause,
                    halfCloseAfterSending: hostile.halfClose,
                    until: hostile.readUntil,
                    deadline: .seconds(10)
                )
                for response in exchange.responses {
                    #expect(!(500..<600).contains(response.status), "a \(response.status): \(response.bodyText)")
                }
                Self.check(exchange, against: hostile.outcomes)
                let forwarded = hostile.outcomes.filter { if case .forwarded = $0 { true } else { false } }.count
                #expect(completed.value == forwarded, "the upstream completed \(completed.value) requests")
                let aborted = hostile.isStreamedBeforeRefusal ? 1 : 0
                #expect((forwarded...(forwarded + aborted)).contains(calls.value), "the upstream saw \(calls.value) requests")

                let next = try await RawHTTP.exchange(port: port, sending: [raw("GET /movies/next HTTP/1.1")])
                #expect(next.responses.first?.status == 200, "the gateway no longer serves")
            }
        }
    }

    static func check(_ exchange: RawExchange, against outcomes: [HostileOutcome]) {
        if case .closedWithoutAnswer = outcomes.first {
            #expect(exchange.responses.isEmpty, "answered \(exchange.responses.map(\.status))")
            #expect(exchange.closedByServer, "the connection was still open at the deadline")
            // Bounded: the idle timeout (5 s), not the test's deadline (10 s), ended it. The margin is wide: with the
            // 73 cases at once on a busy 2-core machine the timer fired at 8.1 s once.
            #expect(exchange.elapsed < .milliseconds(9500))
            return
        }
        #expect(exchange.responses.count == outcomes.count, "got \(exchange.responses.map(\.status))")
        for (response, outcome) in zip(exchange.responses, outcomes) {
            switch outcome {
            case .forwarded(let method, let target, let bodyBytes):
                #expect(response.status == 200, "\(response.bodyText)")
                let echo = try? JSONDecoder().decode(Echo.self, from: Data(response.body))
                #expect(echo?.method == method)
                #expect(echo?.target == target)
                #expect(echo?.bodyBytes == bodyBytes)
            case .refused(let status, let message, let path):
                #expect(response.status == status, "\(response.bodyText)")
                #expect(response.header("Content-Type") == "application/json")
                let body = try? JSONDecoder().decode([String: JSONScalar].self, from: Data(response.body))
                #expect(body?["status"] == .int(status), "\(response.bodyText)")
                guard case .string(let text)? = body?["message"] else {
                    Issue.record("no message in \(response.bodyText)")
                    continue
                }
                #expect(text.contains(message), "message: \(text)")
                switch path {
                case .unchecked: break
                case .absent: #expect(body?["path"] == nil, "\(response.bodyText)")
                case .value(let value): #expect(body?["path"] == .string(value), "\(response.bodyText)")
                }
            case .refusedWithoutBodyThenClosed(let status):
                #expect(response.status == status)
                #expect(response.body.isEmpty)
                #expect(exchange.closedByServer, "the client could not tell where the answer ends")
                #expect(exchange.elapsed < .seconds(2), "closed by the idle timeout rather than after the answer")
            case .closedWithoutAnswer:
                Issue.record("a connection cannot close between responses in this table")
            }
        }
    }
}
