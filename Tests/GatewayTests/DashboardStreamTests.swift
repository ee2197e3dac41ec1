import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing

@testable import Gateway

/// The dashboard's Server-Sent Events through the gateway: passed on as they come, not cut by the upstream timeout,
/// limited apart from viewpage's other routes, and ended by the gateway's graceful shutdown.
@Suite(.timeLimit(.minutes(1)))
struct DashboardStreamTests {
    /// A viewpage stand-in: `/dashboard/events` sends `first`, then `second` once `release` is signalled, then stays
    /// open until `release` is finished; `/movieviews` answers at once.
    static func viewpage(release: AsyncStream<Void>) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/movieviews") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "[]"))) }
        router.get("/dashboard/events") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "event: first\ndata: 1\n\n"))
                    var signals = release.makeAsyncIterator()
                    if await signals.next() != nil {
                        try await writer.write(ByteBuffer(string: "event: second\ndata: 2\n\n"))
                        while await signals.next() != nil {}
                    }
                    try await writer.finish(nil)
                })
        }
        return router
    }

    /// A gateway on a free port over `environment`, run as the process runs it (a service group with graceful shutdown).
    static func withRunningGateway(
        _ environment: [String: String], _ body: @Sendable (_ gatewayURL: String, _ group: ServiceGroup) async throws -> Void
    ) async throws {
        let port = try await closedPort()
        let configuration = GatewayConfiguration.fromEnvironment(environment.merging(["PORT": "\(port)"]) { $1 })
        let httpClient = HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: .gateway(for: configuration))
        let app = buildGatewayApplication(configuration: configuration, httpClient: httpClient, logger: testLogger("gateway"))
        let group = ServiceGroup(configuration: .init(services: [app], logger: testLogger("group")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // Until the gateway listens.
            try await withClient { client in
                for _ in 0..<100 {
                    if (try? await client.execute(HTTPClientRequest(url: "\(url(port))/health"), timeout: .seconds(1))) != nil { return }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            do {
                try await body(url(port), group)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await httpClient.shutdown()
    }

    @Test func eventsPassUnbufferedAndTheStreamOutlivesTheUpstreamTimeout() async throws {
        let (release, signal) = AsyncStream<Void>.makeStream()
        try await withUpstream(Self.viewpage(release: release)) { upstreamPort in
            try await Self.withRunningGateway([
                "VIEWPAGE_URL": url(upstreamPort), "GATEWAY_UPSTREAM_TIMEOUT_MS": "300", "GATEWAY_IDLE_TIMEOUT_MS": "300",
            ]) { gateway, _ in
                try await withClient { client in
                    let response = try await client.execute(HTTPClientRequest(url: "\(gateway)/dashboard/events"), timeout: .seconds(5))
                    #expect(response.status == .ok)
                    #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
                    var chunks = response.body.makeAsyncIterator()
                    // The upstream sends the second event only after the browser has the first: a gateway that buffered
                    // would never deliver it.
                    let first = try await chunks.next().map { String(buffer: $0) }
                    #expect(first == "event: first\ndata: 1\n\n")
                    // Longer than the upstream timeout (which bounds only the wait for the answer's head) and than the idle
                    // timeout (which bounds a client's silence while sending its request, not while reading an answer).
                    try await Task.sleep(for: .milliseconds(700))
                    signal.yield()
                    let second = try await chunks.next().map { String(buffer: $0) }
                    #expect(second == "event: second\ndata: 2\n\n")
                    signal.finish()
                    while try await chunks.next() != nil {}
                }
            }
        }
    }

    @Test func openDashboardsDoNotTakeTheViewsSlots() async throws {
        let (release, signal) = AsyncStream<Void>.makeStream()
        try await withUpstream(Self.viewpage(release: release)) { upstreamPort in
            let environment = ["VIEWPAGE_URL": url(upstreamPort), "VIEWPAGE_MAX_CONCURRENT": "2", "VIEWPAGE_MAX_QUEUED": "0"]
            let configuration = GatewayConfiguration.fromEnvironment(environment)
            // The client's pool holds every admitted stream and view request to the one viewpage host.
            #expect(configuration.connectionsPerUpstreamHost >= 2 + 256)
            try await Self.withRunningGateway(environment) { gateway, _ in
                try await withClient { client in
                    var open: [HTTPClientResponse] = []
                    for _ in 0..<6 {
                        let response = try await client.execute(HTTPClientRequest(url: "\(gateway)/dashboard/events"), timeout: .seconds(5))
                        #expect(response.status == .ok)
                        open.append(response)
                    }
                    // Six streams are open; viewpage's own limit of 2 is untouched.
                    for _ in 0..<3 {
                        let view = try await client.execute(HTTPClientRequest(url: "\(gateway)/movieviews"), timeout: .seconds(5))
                        #expect(view.status == .ok)
                        _ = try await view.body.collect(upTo: 1024)
                    }
                    signal.finish()
                    for response in open { _ = try await response.body.collect(upTo: 1 << 16) }
                }
            }
        }
    }

    @Test func gracefulShutdownEndsOpenStreams() async throws {
        let (release, signal) = AsyncStream<Void>.makeStream()
        try await withUpstream(Self.viewpage(release: release)) { upstreamPort in
            try await Self.withRunningGateway(["VIEWPAGE_URL": url(upstreamPort)]) { gateway, group in
                try await withClient { client in
                    let response = try await client.execute(HTTPClientRequest(url: "\(gateway)/dashboard/events"), timeout: .seconds(5))
                    var chunks = response.body.makeAsyncIterator()
                    _ = try await chunks.next()
                    let started = ContinuousClock.now
                    await group.triggerGracefulShutdown()
                    // The upstream never ends this stream; the gateway's shutdown does.
                    while (try? await chunks.next()) != nil {}
                    #expect(ContinuousClock.now - started < .seconds(3))
                }
            }
            signal.finish()
        }
    }

    /// A service whose `/ready` answers `status`, after `delay`.
    static func readiness(_ status: HTTPResponse.Status, after delay: Duration = .zero) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/ready") { _, _ in
            try await Task.sleep(for: delay)
            return Response(status: status)
        }
        return router
    }

    @Test func theReadinessStripAsksEveryInstanceAndNeverHangs() async throws {
        let closed = try await closedPort()
        try await withUpstream(Self.readiness(.ok)) { readyPort in
            try await withUpstream(Self.readiness(.ok, after: .seconds(5))) { slowPort in
                try await withUpstream(Self.readiness(.serviceUnavailable)) { notReadyPort in
                    let environment = [
                        "MOVIE_URL": "\(url(readyPort)),\(url(notReadyPort))", "PAYMENT_URL": url(slowPort), "RESERVATION_URL": url(closed),
                        "MESSAGE_URL": url(closed), "VIEWPAGE_URL": url(readyPort), "GATEWAY_HEALTH_TIMEOUT_MS": "300",
                    ]
                    try await Self.withRunningGateway(environment) { gateway, _ in
                        try await withClient { client in
                            let started = ContinuousClock.now
                            let response = try await client.execute(
                                HTTPClientRequest(url: "\(gateway)/health/services"), timeout: .seconds(5))
                            let body = try await response.body.collect(upTo: 1 << 16)
                            #expect(ContinuousClock.now - started < .seconds(2))
                            let report = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: [[String: Any]]]
                            let services = try #require(report?["services"])
                            func status(_ name: String, _ port: Int) -> String? {
                                services.first { $0["name"] as? String == name && $0["instance"] as? String == url(port) }?["status"]
                                    as? String
                            }
                            #expect(services.first?["name"] as? String == "gateway")
                            #expect(status("movie", readyPort) == "ready")
                            #expect(status("movie", notReadyPort) == "not ready")
                            #expect(status("payment", slowPort) == "unreachable")
                            #expect(status("reservation", closed) == "unreachable")
                            #expect(status("viewpage", readyPort) == "ready")
                            // The stream route is viewpage too, not another service.
                            #expect(!services.contains { $0["name"] as? String == GatewayConfiguration.dashboardStreamUpstream })
                        }
                    }
                }
            }
        }
    }

    @Test func theHomePageIsTheDashboard() async throws {
        try await withGateway(routes: GatewayConfiguration.cinemaRoutes()) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .found)
                #expect(response.headers[.location] == "/dashboard/")
            }
            // Only reads reach viewpage's dashboard.
            try await client.execute(uri: "/dashboard/index.html", method: .post) { response in
                #expect(response.status == .methodNotAllowed)
            }
        }
    }
}
