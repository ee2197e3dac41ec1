import CinemaTracing
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

extension HTTPField.Name {
    static let traceresponse = Self("traceresponse")!
}

/// The gateway's part of tracing, against a real upstream on loopback: it continues a valid `traceparent`, starts a
/// trace otherwise (never refusing the request), and forwards its own span as the upstream's parent.
@Suite("Tracing")
struct GatewayTracingTests {
    static let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    init() { TraceLogging.bootstrapInstrumentation() }

    /// What the upstream saw and what the client was answered, as trace contexts.
    private func exchange(headers: HTTPFields) async throws -> (upstream: TraceParent?, answered: TraceParent?, echo: Echo) {
        try await withUpstream(Upstream.echo(name: "movie")) { port in
            let routes = [GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: url(port))]
            return try await withGateway(routes: routes) { client in
                let response = try await client.execute(uri: "/movies/1", method: .get, headers: headers)
                #expect(response.status == .ok)
                let echo = try response.decode(Echo.self)
                return (
                    echo.header("traceparent").flatMap(TraceParent.init(header:)),
                    response.headers[.traceresponse].flatMap(TraceParent.init(header:)), echo
                )
            }
        }
    }

    @Test func continuesAValidTraceparentWithItsOwnSpanAsTheUpstreamsParent() async throws {
        let (upstream, answered, echo) = try await exchange(headers: [.traceparent: Self.incoming, .tracestate: "vendor=1"])
        let forwarded = try #require(upstream)
        #expect(forwarded.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(forwarded.spanID != "00f067aa0ba902b7")
        #expect(answered == forwarded)
        #expect(!echo.header("traceparent")!.contains(","), "exactly one traceparent reaches the upstream")
        // The state belongs to the trace that was continued, so it goes along.
        #expect(echo.header("tracestate") == "vendor=1")
    }

    @Test func startsATraceWhenNoneIsSent() async throws {
        let (upstream, answered, _) = try await exchange(headers: [:])
        let forwarded = try #require(upstream)
        #expect(answered == forwarded)
        #expect(forwarded.sampled)
    }

    @Test(arguments: [
        "00-zz", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 x=1",
        String(repeating: "a", count: 4000),
    ])
    func startsANewTraceForAnInvalidOneAndStillForwards(_ value: String) async throws {
        let (upstream, answered, echo) = try await exchange(headers: [.traceparent: value, .tracestate: "vendor=1"])
        let forwarded = try #require(upstream)
        #expect(answered == forwarded)
        #expect(forwarded.traceID != "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(echo.header("tracestate") == nil)
    }

    @Test func twoTraceparentHeadersAreNoTraceToContinue() async throws {
        var headers = HTTPFields()
        headers.append(HTTPField(name: .traceparent, value: Self.incoming))
        headers.append(HTTPField(name: .traceparent, value: "00-11111111111111111111111111111111-2222222222222222-01"))
        let (upstream, _, _) = try await exchange(headers: headers)
        let forwarded = try #require(upstream)
        #expect(forwarded.traceID != "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(forwarded.traceID != "11111111111111111111111111111111")
    }
}
