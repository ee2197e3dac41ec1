import AsyncHTTPClient
import CinemaPolling
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

@testable import Gateway

@Suite("Load shedding configuration")
struct LoadSheddingConfigurationTests {
    @Test func defaultsForEveryUpstream() {
        let shedding = GatewayConfiguration.fromEnvironment([:]).shedding
        for upstream in ["movie", "payment", "reservation", "message", "viewpage"] {
            #expect(shedding.limits(for: upstream) == UpstreamLimits(maxConcurrent: 64, maxQueued: 128, queueTimeout: .seconds(2)))
        }
        #expect(shedding.retryAfterSeconds == 1)
    }

    @Test func gatewayWideValuesAndPerUpstreamOverrides() {
        let shedding = GatewayConfiguration.fromEnvironment([
            "GATEWAY_MAX_CONCURRENT": "10", "GATEWAY_MAX_QUEUED": "0", "GATEWAY_QUEUE_TIMEOUT_MS": "500",
            "GATEWAY_RETRY_AFTER_SECONDS": " 3 ", "RESERVATION_MAX_CONCURRENT": "4", "RESERVATION_MAX_QUEUED": "8",
            "PAYMENT_QUEUE_TIMEOUT_MS": "100",
        ]).shedding
        #expect(shedding.limits(for: "movie") == UpstreamLimits(maxConcurrent: 10, maxQueued: 0, queueTimeout: .milliseconds(500)))
        #expect(shedding.limits(for: "reservation") == UpstreamLimits(maxConcurrent: 4, maxQueued: 8, queueTimeout: .milliseconds(500)))
        #expect(shedding.limits(for: "payment") == UpstreamLimits(maxConcurrent: 10, maxQueued: 0, queueTimeout: .milliseconds(100)))
        #expect(shedding.retryAfterSeconds == 3)
    }

    @Test(arguments: [
        ("GATEWAY_MAX_CONCURRENT", "0"), ("GATEWAY_MAX_CONCURRENT", "-3"), ("GATEWAY_MAX_CONCURRENT", "ten"),
        ("GATEWAY_MAX_QUEUED", "-1"), ("GATEWAY_MAX_QUEUED", "1e3"), ("GATEWAY_QUEUE_TIMEOUT_MS", "0"),
        ("GATEWAY_QUEUE_TIMEOUT_MS", "2s"), ("GATEWAY_RETRY_AFTER_SECONDS", "1.5"), ("GATEWAY_RETRY_AFTER_SECONDS", "0"),
        ("RESERVATION_MAX_CONCURRENT", "many"), ("RESERVATION_MAX_QUEUED", "-5"), ("MOVIE_QUEUE_TIMEOUT_MS", "99999999999999999999"),
    ])
    func anUnusableValueKeepsTheDefaultAndIsLogged(variable: String, value: String) {
        let logs = CapturedLogs()
        let shedding = GatewayConfiguration.fromEnvironment([variable: value], logger: logs.logger).shedding
        #expect(shedding == LoadSheddingConfiguration())
        let warnings = logs.entries.filter { $0.level == .warning }
        #expect(warnings.count == 1)
        #expect(warnings.first?.metadata["config.variable"] == .string(variable))
        #expect(warnings.first?.metadata["config.value"] == .string(value))
    }

    @Test func theConnectionPoolHoldsEveryAdmittedRequest() {
        // AsyncHTTPClient's default of 8 connections per host would queue admitted requests out of the limiter's sight.
        let defaults = GatewayConfiguration.fromEnvironment([:])
        #expect(HTTPClient.Configuration.gateway(for: defaults).connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit >= 64)
        // Two upstreams behind one host share its pool: it holds both limits.
        let shared = GatewayConfiguration(
            routes: [
                GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: "http://cinema.internal:8080"),
                GatewayRoute(prefix: "/reviews", upstreamName: "movie", upstream: "http://cinema.internal:8080"),
                GatewayRoute(prefix: "/messages", upstreamName: "message", upstream: "http://cinema.internal:8080/"),
                GatewayRoute(prefix: "/payments", upstreamName: "payment", upstream: "http://payment:8080"),
            ],
            shedding: LoadSheddingConfiguration(
                defaultLimits: UpstreamLimits(maxConcurrent: 100),
                upstreamLimits: ["movie": UpstreamLimits(maxConcurrent: 70), "message": UpstreamLimits(maxConcurrent: 50)]
            )
        )
        #expect(shared.connectionsPerUpstreamHost == 120)
        #expect(HTTPClient.Configuration.gateway(for: shared).connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit == 120)
    }
}

@Suite("Load shedding")
struct LoadSheddingTests {
    static let reservationLimits = UpstreamLimits(maxConcurrent: 2, maxQueued: 2, queueTimeout: .seconds(30))

    /// The excess over limit and queue is refused at once with 503, `Retry-After` and the JSON error, while the held
    /// requests wait for the stuck upstream and another upstream answers as fast as ever.
    @Test func excessIsShedAtOnceWhileAnotherUpstreamAnswersFast() async throws {
        let latch = Latch()
        let calls = Counter()
        let stuck = Upstream.router { _, _ in
            calls.increment()
            await latch.wait()
            return Response(status: .ok)
        }
        try await withUpstream(stuck) { reservationPort in
            defer { latch.open() }
            try await withUpstream(Upstream.echo(name: "movie")) { moviePort in
                let routes = GatewayConfiguration.cinemaRoutes(movieURL: url(moviePort), reservationURL: url(reservationPort))
                let shedding = LoadSheddingConfiguration(upstreamLimits: ["reservation": Self.reservationLimits], retryAfterSeconds: 1)
                try await withSheddingGateway(routes: routes, shedding: shedding) { gateway, limiters in
                    let limiter = try #require(limiters["reservation"])
                    try await withLoadClient { client in
                        let reservations = "\(gateway)/reservations"
                        try await withThrowingTaskGroup(of: Exchange.self) { requests in
                            for _ in 0..<2 { requests.addTask { try await client.get(reservations) } }
                            try await waitUntil("both held requests reach the stuck upstream") { calls.value == 2 }
                            for _ in 0..<5 { requests.addTask { try await client.get(reservations) } }

                            // The three beyond limit and queue come back at once; the four others are still held.
                            var shed: [Exchange] = []
                            while shed.count < 3, let exchange = try await requests.next() {
                                shed.append(exchange)
                            }
                            for exchange in shed {
                                #expect(exchange.status == 503)
                                #expect(exchange.elapsed < .seconds(2), "not at once: \(exchange.elapsed)")
                                #expect(exchange.headers.first(name: "Retry-After") == "1")
                                #expect(exchange.headers.first(name: "Content-Type") == "application/json")
                                #expect(
                                    exchange.body
                                        == #"{"status":503,"error":"Service Unavailable","#
                                        + #""message":"reservation is overloaded; retry in 1 s","path":"/reservations"}"#
                                )
                            }
                            #expect(limiter.snapshot == (2, 2, true))

                            // Meanwhile the movie upstream is as fast as ever.
                            for _ in 0..<20 {
                                let movies = try await client.get("\(gateway)/movies")
                                #expect(movies.status == 200)
                                #expect(movies.elapsed < .seconds(1), "movies slowed down: \(movies.elapsed)")
                            }

                            // Unstuck: the held and the queued requests are answered, nothing stays taken.
                            latch.open()
                            var answered = 0
                            for try await exchange in requests {
                                #expect(exchange.status == 200)
                                answered += 1
                            }
                            #expect(answered == 4)
                        }
                        #expect(calls.value == 4, "a shed request reached the upstream")
                        try await waitUntil("every slot is given back") { limiter.snapshot == (0, 0, false) }
                    }
                }
            }
        }
    }

    @Test func aRequestQueuedPastTheTimeoutIsShed() async throws {
        let latch = Latch()
        let calls = Counter()
        let stuck = Upstream.router { _, _ in
            calls.increment()
            await latch.wait()
            return Response(status: .ok)
        }
        try await withUpstream(stuck) { port in
            defer { latch.open() }
            let routes = [GatewayRoute(prefix: "/reservations", upstreamName: "reservation", upstream: url(port))]
            let limits = UpstreamLimits(maxConcurrent: 1, maxQueued: 1, queueTimeout: .milliseconds(300))
            let shedding = LoadSheddingConfiguration(upstreamLimits: ["reservation": limits], retryAfterSeconds: 4)
            try await withSheddingGateway(routes: routes, shedding: shedding) { gateway, _ in
                try await withLoadClient { client in
                    async let held = client.get("\(gateway)/reservations/1")
                    try await waitUntil("the first request reaches the upstream") { calls.value == 1 }
                    let queued = try await client.get("\(gateway)/reservations/2")
                    #expect(queued.status == 503)
                    #expect(queued.elapsed >= .milliseconds(300))
                    #expect(queued.elapsed < .seconds(5))
                    #expect(queued.headers.first(name: "Retry-After") == "4")
                    #expect(queued.body.contains(#""message":"reservation is overloaded (no slot came free within 300 ms); retry in 4 s""#))
                    latch.open()
                    #expect(try await held.status == 200)
                    #expect(calls.value == 1)
                }
            }
        }
    }

    /// Hummingbird does not cancel a handler whose client left; the client watch gives the queue place up anyway.
    @Test func aClientThatLeavesWhileQueuedFreesItsPlace() async throws {
        let latch = Latch()
        let calls = Counter()
        let stuck = Upstream.router { _, _ in
            calls.increment()
            await latch.wait()
            return Response(status: .ok)
        }
        try await withUpstream(stuck) { port in
            defer { latch.open() }
            let routes = [GatewayRoute(prefix: "/reservations", upstreamName: "reservation", upstream: url(port))]
            let limits = UpstreamLimits(maxConcurrent: 1, maxQueued: 1, queueTimeout: .seconds(30))
            try await withSheddingGateway(routes: routes, shedding: LoadSheddingConfiguration(upstreamLimits: ["reservation": limits])) {
                gateway, limiters in
                let limiter = try #require(limiters["reservation"])
                try await withLoadClient { client in
                    async let held = client.get("\(gateway)/reservations/1")
                    try await waitUntil("the first request reaches the upstream") { calls.value == 1 }
                    // Queued, then the client closes its connection without waiting for the answer.
                    let gatewayPort = try #require(URL(string: gateway)?.port)
                    async let leaving = RawHTTP.exchange(
                        port: gatewayPort, sending: [Array("GET /reservations/2 HTTP/1.1\r\nHost: x\r\n\r\n".utf8)],
                        deadline: .seconds(1))
                    try await waitUntil("the leaving client is queued") { limiter.snapshot.queued == 1 }
                    #expect(try await leaving.responses.isEmpty)
                    try await waitUntil("its place is free again") { limiter.snapshot.queued == 0 }
                    #expect(limiter.snapshot.isShedding == false, "leaving is not being shed")

                    // Another request can wait there now, and is served once the upstream answers.
                    async let next = client.get("\(gateway)/reservations/3")
                    try await waitUntil("the next request is queued") { limiter.snapshot.queued == 1 }
                    latch.open()
                    #expect(try await held.status == 200)
                    #expect(try await next.status == 200)
                    #expect(calls.value == 2, "the request of the client that left reached the upstream")
                }
            }
        }
    }
}

// MARK: - Support

/// Opens once; everyone waiting, and everyone who comes later, goes on.
final class Latch: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let openAlready = self.state.withLock { state in
                if !state.isOpen { state.waiters.append(continuation) }
                return state.isOpen
            }
            if openAlready { continuation.resume() }
        }
    }

    func open() {
        let waiters = self.state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Log entries kept for inspection.
final class CapturedLogs: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let storage = Mutex<[Entry]>([])
    var entries: [Entry] { self.storage.withLock { $0 } }

    var logger: Logger {
        Logger(label: "captured") { _ in Handler(logs: self) }
    }

    fileprivate func append(_ entry: Entry) { self.storage.withLock { $0.append(entry) } }

    private struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
            self.logs.append(Entry(level: event.level, message: "\(event.message)", metadata: merged))
        }
    }
}

/// One answer as the load client saw it.
struct Exchange: Sendable {
    var status: Int
    var headers: HTTPHeadersView
    var body: String
    var elapsed: Duration
}

/// The headers of an answer, by name.
struct HTTPHeadersView: Sendable {
    var fields: [(name: String, value: String)]

    func first(name: String) -> String? {
        self.fields.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

extension HTTPClient {
    func get(_ url: String) async throws -> Exchange {
        let started = ContinuousClock.now
        let response = try await self.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1024 * 1024)
        return Exchange(
            status: Int(response.status.code),
            headers: HTTPHeadersView(fields: response.headers.map { ($0.name, $0.value) }),
            body: String(buffer: body),
            elapsed: ContinuousClock.now - started
        )
    }
}

/// A client that opens as many connections as the test sends requests at once (the default pool has 8 per host).
func withLoadClient<Value: Sendable>(_ body: (HTTPClient) async throws -> Value) async throws -> Value {
    var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
    let client = HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    let result: Result<Value, any Error>
    do {
        result = .success(try await body(client))
    } catch {
        result = .failure(error)
    }
    try await client.shutdown()
    return try result.get()
}

/// Runs a gateway with the given load shedding; `body` gets its base URL and its limiters, to watch their state.
func withSheddingGateway<Value: Sendable>(
    routes: [GatewayRoute],
    shedding: LoadSheddingConfiguration,
    _ body: @Sendable (_ gateway: String, _ limiters: UpstreamLimiters) async throws -> Value
) async throws -> Value {
    let configuration = GatewayConfiguration(host: "127.0.0.1", port: 0, routes: routes, upstreamTimeout: .seconds(30), shedding: shedding)
    let httpClient = HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: .gateway(for: configuration))
    let limiters = UpstreamLimiters(configuration: configuration, logger: testLogger("gateway"))
    let app = buildGatewayApplication(
        configuration: configuration, httpClient: httpClient, logger: testLogger("gateway"), limiters: limiters,
        balancers: UpstreamBalancers(configuration: configuration, logger: testLogger("gateway"))
    )
    let result: Result<Value, any Error>
    do {
        result = .success(
            try await app.test(.live) { client in
                try await body("http://127.0.0.1:\(try #require(client.port))", limiters)
            })
    } catch {
        result = .failure(error)
    }
    try await httpClient.shutdown()
    return try result.get()
}
