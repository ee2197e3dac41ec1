import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MetricsTestKit
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing

@testable import Gateway

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Upstream lists")
struct UpstreamListConfigurationTests {
    static let defaultReservation = ["http://127.0.0.1:8083"]

    func reservationInstances(_ value: String, logs: CapturedLogs = CapturedLogs()) -> [String]? {
        GatewayConfiguration.fromEnvironment(["RESERVATION_URL": value], logger: logs.logger)
            .route(forPath: "/reservations")?.upstreams
    }

    @Test(arguments: [
        ("http://127.0.0.1:8083", ["http://127.0.0.1:8083"]),
        ("http://reservation:8080/", ["http://reservation:8080"]),
        ("http://10.0.0.1:8083,http://10.0.0.2:8083", ["http://10.0.0.1:8083", "http://10.0.0.2:8083"]),
        ("http://10.0.0.1:8083 http://10.0.0.2:8083", ["http://10.0.0.1:8083", "http://10.0.0.2:8083"]),
        (" http://a:1/ ,\thttp://b:2 ,, http://c:3", ["http://a:1", "http://b:2", "http://c:3"]),
        ("https://a.example,http://b.example:8080/base", ["https://a.example", "http://b.example:8080/base"]),
        ("http://a:1,http://a:1/,http://a:1", ["http://a:1"]),
    ])
    func validListsAreReadInOrder(value: String, expected: [String]) {
        let logs = CapturedLogs()
        #expect(self.reservationInstances(value, logs: logs) == expected)
        #expect(logs.entries.isEmpty, "no warnings for a valid list: \(logs.entries.map(\.message))")
    }

    /// Each unusable entry is skipped with a warning naming it; the usable ones stay.
    @Test(arguments: [
        ("http://a:1,ftp://b:2,http://c:3", ["http://a:1", "http://c:3"], ["ftp://b:2"]),
        ("reservation:8080 http://a:1", ["http://a:1"], ["reservation:8080"]),
        (
            "http://a:1,http://,/relative,http://b:2?x=1,http://c:3#f,http://d:4", ["http://a:1", "http://d:4"],
            ["http://", "/relative", "http://b:2?x=1", "http://c:3#f"]
        ),
    ])
    func unusableEntriesAreSkippedWithAWarning(value: String, expected: [String], skipped: [String]) {
        let logs = CapturedLogs()
        #expect(self.reservationInstances(value, logs: logs) == expected)
        let warnings = logs.entries.filter { $0.level == .warning }
        #expect(warnings.map { $0.metadata["config.value"] } == skipped.map { .string($0) })
        #expect(warnings.allSatisfy { $0.metadata["config.variable"] == "RESERVATION_URL" })
    }

    /// A list without a usable entry keeps the default, as a single unusable URL always did; now it is said so.
    @Test(arguments: [",", " , ,", "ftp://a:1", "nonsense", "ftp://a:1, mailto:someone"])
    func aListWithoutUsableEntriesKeepsTheDefault(value: String) {
        let logs = CapturedLogs()
        #expect(self.reservationInstances(value, logs: logs) == Self.defaultReservation)
        let warnings = logs.entries.filter { $0.level == .warning }
        #expect(warnings.count == 1)
        #expect(warnings.first?.metadata["config.variable"] == "RESERVATION_URL")
        // As read: surrounding whitespace trimmed.
        #expect(warnings.first?.metadata["config.value"] == .string(value.trimmingCharacters(in: .whitespaces)))
    }

    @Test func anEmptyValueKeepsTheDefaultQuietly() {
        let logs = CapturedLogs()
        #expect(self.reservationInstances("  ", logs: logs) == Self.defaultReservation)
        #expect(logs.entries.isEmpty)
    }

    @Test func routesOfOneUpstreamShareItsList() {
        let configuration = GatewayConfiguration.fromEnvironment(["MOVIE_URL": "http://m1:8080,http://m2:8080"])
        for path in ["/movies", "/reviews", "/check"] {
            #expect(configuration.route(forPath: path)?.upstreams == ["http://m1:8080", "http://m2:8080"])
            #expect(configuration.route(forPath: path)?.upstream == "http://m1:8080, http://m2:8080")
        }
        #expect(configuration.route(forPath: "/payments")?.upstreams == ["http://127.0.0.1:8081"])
    }

    @Test(arguments: [("250", Duration.milliseconds(250)), (" 60000 ", .seconds(60))])
    func retryIntervalIsRead(value: String, expected: Duration) {
        #expect(GatewayConfiguration.fromEnvironment(["GATEWAY_UPSTREAM_RETRY_MS": value]).upstreamRetryInterval == expected)
    }

    @Test(arguments: ["0", "-5", "5s", "1.5"])
    func anUnusableRetryIntervalKeepsTheDefaultAndIsLogged(value: String) {
        let logs = CapturedLogs()
        let configuration = GatewayConfiguration.fromEnvironment(["GATEWAY_UPSTREAM_RETRY_MS": value], logger: logs.logger)
        #expect(configuration.upstreamRetryInterval == .seconds(5))
        #expect(logs.entries.filter { $0.level == .warning }.map { $0.metadata["config.variable"] } == ["GATEWAY_UPSTREAM_RETRY_MS"])
    }

    /// Each replica has a pool of its own (AsyncHTTPClient keys pools by scheme, host and port), and each may carry the
    /// whole limit of its upstream when the others are down.
    @Test func everyReplicaPoolHoldsTheUpstreamsWholeLimit() {
        let configuration = GatewayConfiguration(
            routes: [
                GatewayRoute(prefix: "/reservations", upstreamName: "reservation", upstreams: ["http://r:8083", "http://r:8183"]),
                GatewayRoute(prefix: "/movies", upstreamName: "movie", upstreams: ["http://m", "http://m:80"]),
                GatewayRoute(prefix: "/messages", upstreamName: "message", upstreams: ["http://r:8183"]),
            ],
            shedding: LoadSheddingConfiguration(
                defaultLimits: UpstreamLimits(maxConcurrent: 10),
                upstreamLimits: ["reservation": UpstreamLimits(maxConcurrent: 90), "movie": UpstreamLimits(maxConcurrent: 40)]
            )
        )
        // r:8183 serves reservation (90) and message (10); m and m:80 are one pool, counted once.
        #expect(configuration.connectionsPerUpstreamHost == 100)
    }
}

/// Serialized, and refused ports held bound (``RefusingPort``) rather than merely closed: a port closed is free for
/// the next server any test starts, which would then get requests meant to be refused.
@Suite("Balancing", .serialized)
struct BalancingTests {
    @Test func requestsAreSpreadOverTheInstances() async throws {
        let seen = Mutex<[String: Int]>([:])
        @Sendable func instance(_ name: String) -> Router<BasicRequestContext> {
            Upstream.router { _, _ in
                seen.withLock { $0[name, default: 0] += 1 }
                return Response(status: .ok)
            }
        }
        try await withUpstream(instance("a")) { a in
            try await withUpstream(instance("b")) { b in
                try await withBalancingGateway(instances: [url(a), url(b)]) { gateway in
                    try await withLoadClient { client in
                        for _ in 0..<20 {
                            #expect(try await client.get("\(gateway.url)/reservations").status == 200)
                        }
                        // Concurrent requests too: the least busy instance takes the next one.
                        try await withThrowingTaskGroup(of: Int.self) { requests in
                            for _ in 0..<20 { requests.addTask { try await client.get("\(gateway.url)/reservations").status } }
                            for try await status in requests { #expect(status == 200) }
                        }
                    }
                    let counts = seen.withLock { $0 }
                    #expect(counts.values.reduce(0, +) == 40)
                    // Idle, it is round-robin: the sequential twenty split evenly, give or take one answer whose
                    // instance was not yet released when the next request arrived.
                    #expect(counts["a", default: 0] >= 12 && counts["b", default: 0] >= 12, "\(counts)")
                    #expect(gateway.retries == 0)
                }
            }
        }
    }

    /// One instance stops (its port then refuses connections): every request, POSTs included, is still answered by
    /// the other one, each exactly once; the stopped one is marked down, logged and gauged, and, started again, is
    /// probed after the retry interval and gets its share back.
    @Test func anInstanceThatStopsIsPassedOverAndComesBack() async throws {
        let received = ReceivedRequests()
        let stable = try await StoppableUpstream.start(received.router("stable"))
        let flaky = try await StoppableUpstream.start(received.router("flaky"))
        do {
            try await withBalancingGateway(instances: [url(stable.port), url(flaky.port)], retryInterval: .milliseconds(500)) {
                gateway in
                try await withLoadClient { client in
                    for number in 0..<4 {
                        #expect(try await client.post("\(gateway.url)/reservations", id: "warm-\(number)").status == 201)
                    }
                    let flakyBefore = received.count(for: "flaky")
                    #expect(flakyBefore >= 1)

                    let refusing = try await flaky.stop()
                    var ids: [String] = []
                    for number in 0..<20 {
                        let id = "sequential-\(number)"
                        ids.append(id)
                        let exchange = try await client.post("\(gateway.url)/reservations", id: id)
                        #expect(exchange.status == 201, "\(id): \(exchange.body)")
                    }
                    try await withThrowingTaskGroup(of: (String, Int).self) { requests in
                        for number in 0..<20 {
                            let id = "concurrent-\(number)"
                            ids.append(id)
                            requests.addTask { (id, try await client.post("\(gateway.url)/reservations", id: id).status) }
                        }
                        for try await (id, status) in requests { #expect(status == 201, "\(id)") }
                    }
                    // Each POST arrived exactly once, all of them at the instance still running.
                    #expect(received.arrivals(of: ids) == Dictionary(uniqueKeysWithValues: ids.map { ($0, ["stable"]) }))
                    #expect(received.count(for: "flaky") == flakyBefore)
                    #expect(gateway.isUp(url(flaky.port)) == false)
                    #expect(gateway.isUp(url(stable.port)) == true)
                    // At least the first request after the stop was refused and retried; within the interval the
                    // others went straight to the running instance.
                    #expect(gateway.retries >= 1)
                    let down = gateway.logs.entries.filter { $0.message.contains("marked down") }
                    #expect(down.count == 1)
                    #expect(down.first?.metadata["upstream.name"] == "reservation")
                    #expect(down.first?.metadata["upstream.instance"] == .string(url(flaky.port)))

                    // Back on the same port: after the interval a probe finds it, and it takes requests again.
                    let restarted = try await StoppableUpstream.start(received.router("flaky"), on: refusing)
                    do {
                        try await Task.sleep(for: .milliseconds(600))
                        for number in 0..<6 {
                            #expect(try await client.post("\(gateway.url)/reservations", id: "back-\(number)").status == 201)
                        }
                        #expect(received.count(for: "flaky") >= flakyBefore + 2, "the restarted instance got no share")
                        #expect(gateway.isUp(url(flaky.port)) == true)
                        let back = gateway.logs.entries.filter { $0.message.contains("back in rotation") }
                        #expect(back.count == 1)
                        #expect(back.first?.metadata["upstream.instance"] == .string(url(flaky.port)))
                    } catch {
                        try? await restarted.stop().release()
                        throw error
                    }
                    try await restarted.stop().release()
                }
            }
        } catch {
            try? await stable.stop().release()
            throw error
        }
        try await stable.stop().release()
    }

    /// A refused attempt has not touched the client's body, so the next instance gets all of it, whether it is
    /// declared with a length or streamed in chunks.
    @Test(arguments: [true, false])
    func theBodyOfARetriedRequestArrivesWhole(chunked: Bool) async throws {
        let refusing = try RefusingPort.hold()
        defer { refusing.release() }
        let down = url(refusing.port)
        let size = 512 * 1024
        let calls = Counter()
        try await withUpstream(Upstream.echo(name: "up", calls: calls)) { port in
            try await withBalancingGateway(instances: [down, url(port)]) { gateway in
                try await withClient { client in
                    var request = HTTPClientRequest(url: "\(gateway.url)/reservations")
                    request.method = .POST
                    let chunks = (0..<8).map { ByteBuffer(repeating: UInt8($0), count: size / 8) }
                    if chunked {
                        let (stream, upload) = AsyncStream<ByteBuffer>.makeStream()
                        for chunk in chunks { upload.yield(chunk) }
                        upload.finish()
                        request.body = .stream(stream, length: .unknown)
                    } else {
                        request.body = .bytes(chunks.reduce(into: ByteBuffer()) { $0.writeImmutableBuffer($1) })
                    }
                    let response = try await client.execute(request, timeout: .seconds(30))
                    #expect(response.status == .ok)
                    let body = try await response.body.collect(upTo: 64 * 1024)
                    let echo = try JSONDecoder().decode(Echo.self, from: Data(body.readableBytesView))
                    #expect(echo.upstream == "up")
                    #expect(echo.bodyBytes == size)
                    #expect(echo.header("transfer-encoding") == (chunked ? "chunked" : nil))
                }
                #expect(gateway.retries == 1, "the first attempt went to the instance that is down")
            }
            #expect(calls.value == 1)
        }
    }

    /// Every instance refuses: the answer is today's 502 for an unreachable upstream, naming the service and its
    /// instances, and nothing is retried forever. Within the interval it comes at once, without trying any. An IP
    /// address and a host name fail differently (the socket's error; every resolved address failing): both count as
    /// refused.
    @Test(arguments: ["127.0.0.1", "localhost"])
    func everyInstanceDownIsA502NamingTheService(host: String) async throws {
        let refusing = [try RefusingPort.hold(), try RefusingPort.hold()]
        defer { for port in refusing { port.release() } }
        let instances = refusing.map { "http://\(host):\($0.port)" }
        try await withBalancingGateway(instances: instances) { gateway in
            try await withLoadClient { client in
                for _ in 0..<3 {
                    let exchange = try await client.get("\(gateway.url)/reservations/1")
                    #expect(exchange.status == 502)
                    #expect(exchange.headers.first(name: "Content-Type") == "application/json")
                    #expect(
                        exchange.body
                            == #"{"status":502,"error":"Bad Gateway","#
                            + #""message":"upstream reservation (\#(instances[0]), \#(instances[1])) is unreachable","#
                            + #""path":"/reservations/1"}"#
                    )
                }
            }
            #expect(instances.map(gateway.isUp) == [false, false])
            #expect(gateway.retries == 1, "the first request tried the second instance; the later ones tried none")
        }
    }

    /// A request that reached an instance is never sent to another, whatever became of it there: here the instance
    /// is too slow, and the POST is answered 504 rather than sent a second time.
    @Test func aRequestThatReachedAnInstanceIsNotRetried() async throws {
        let (released, release) = AsyncStream<Void>.makeStream()
        let received = ReceivedRequests()
        let slow = Upstream.router { request, _ in
            received.record(request, at: "slow")
            for await _ in released {}
            return Response(status: .ok)
        }
        try await withUpstream(slow) { slowPort in
            defer { release.finish() }
            try await withUpstream(received.router("fast")) { fastPort in
                try await withBalancingGateway(instances: [url(slowPort), url(fastPort)], upstreamTimeout: .milliseconds(300)) {
                    gateway in
                    try await withLoadClient { client in
                        let exchange = try await client.post("\(gateway.url)/reservations", id: "once")
                        #expect(exchange.status == 504)
                        #expect(exchange.body.contains("upstream reservation (\(url(slowPort))) did not respond within 300 ms"))
                    }
                    #expect(received.arrivals(of: ["once"]) == ["once": ["slow"]])
                    #expect(gateway.retries == 0)
                    #expect(gateway.isUp(url(slowPort)) == true, "slow is not down")
                }
            }
        }
    }

    /// A single URL behaves as before: a refused connection is today's 502, and the upstream is tried again on the
    /// very next request rather than skipped for the retry interval.
    @Test func aSingleInstanceIsTriedOnEveryRequest() async throws {
        let received = ReceivedRequests()
        let refusing = try RefusingPort.hold()
        let port = refusing.port
        try await withBalancingGateway(instances: [url(port)], retryInterval: .seconds(60)) { gateway in
            try await withLoadClient { client in
                let refused = try await client.get("\(gateway.url)/reservations")
                #expect(refused.status == 502)
                #expect(refused.body.contains(#""message":"upstream reservation (\#(url(port))) is unreachable""#))
                #expect(gateway.isUp(url(port)) == false)
                let started = try await StoppableUpstream.start(received.router("only"), on: refusing)
                do {
                    #expect(try await client.get("\(gateway.url)/reservations").status == 201)
                } catch {
                    try? await started.stop().release()
                    throw error
                }
                try await started.stop().release()
            }
            #expect(gateway.retries == 0)
            #expect(gateway.isUp(url(port)) == true)
        }
    }
}

// MARK: - Support

/// Which instance received which request (by its `X-Request-Id`), across the servers' tasks.
final class ReceivedRequests: Sendable {
    private let storage = Mutex<[(instance: String, id: String)]>([])

    /// An upstream named `instance` that records every request, reads its body, and answers 201.
    func router(_ instance: String) -> Router<BasicRequestContext> {
        Upstream.router { request, _ in
            self.record(request, at: instance)
            for try await _ in request.body {}
            return Response(status: .created)
        }
    }

    func record(_ request: Request, at instance: String) {
        let id = HTTPField.Name("X-Request-Id").flatMap { request.headers[$0] } ?? ""
        self.storage.withLock { $0.append((instance, id)) }
    }

    func count(for instance: String) -> Int {
        self.storage.withLock { $0.filter { $0.instance == instance }.count }
    }

    /// For each id, the instances it arrived at, once per arrival.
    func arrivals(of ids: [String]) -> [String: [String]] {
        let wanted = Set(ids)
        return self.storage.withLock { received in
            received.filter { wanted.contains($0.id) }.reduce(into: [:]) { $0[$1.id, default: []].append($1.instance) }
        }
    }
}

extension HTTPClient {
    /// A POST with a small JSON body, tagged with `id` so that the upstream's records can be matched to it.
    func post(_ url: String, id: String) async throws -> Exchange {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "X-Request-Id", value: id)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"id":"\#(id)"}"#))
        let started = ContinuousClock.now
        let response = try await self.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1024 * 1024)
        return Exchange(
            status: Int(response.status.code),
            headers: HTTPHeadersView(fields: response.headers.map { ($0.name, $0.value) }),
            body: String(buffer: body),
            elapsed: ContinuousClock.now - started
        )
    }
}

/// An upstream server the test stops (its listening socket closes, so connections are refused) and may start again
/// on the same port.
struct StoppableUpstream: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    /// Starts on the port `refusing` holds, which it lets go of just before.
    static func start(_ router: Router<BasicRequestContext>, on refusing: RefusingPort) async throws -> StoppableUpstream {
        refusing.release()
        return try await self.start(router, port: refusing.port)
    }

    static func start(_ router: Router<BasicRequestContext>, port: Int = 0) async throws -> StoppableUpstream {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: testLogger("upstream")
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: testLogger("upstream")))
        let running = Task {
            defer { portContinuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else {
            // The server did not start (the port is taken, say): its error says why.
            try await running.value
            throw CancellationError()
        }
        return StoppableUpstream(port: bound, group: group, running: running)
    }

    /// Returns once the server has stopped listening and its connections are closed, with its port held so that it
    /// keeps refusing connections (close it when done, or start the server on it again).
    func stop() async throws -> RefusingPort {
        await self.group.triggerGracefulShutdown()
        try await self.running.value
        return try RefusingPort.hold(port: self.port)
    }
}

/// A loopback port bound but not listening: a connection to it is refused, and, unlike a port merely closed, no
/// server started meanwhile (by this test or another running beside it) can be given it.
struct RefusingPort: Sendable {
    let port: Int
    private let descriptor: Int32

    static func hold(port: Int = 0) throws -> RefusingPort {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        // Accepted while the port's last connections linger in TIME_WAIT, so a stopped server's port can be held.
        var reuse: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(clamping: port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(descriptor, address, length) == 0 && getsockname(descriptor, address, &length) == 0
            }
        }
        guard bound else {
            let error = POSIXError(.init(rawValue: errno) ?? .EIO)
            _ = close(descriptor)
            throw error
        }
        return RefusingPort(port: Int(UInt16(bigEndian: address.sin_port)), descriptor: descriptor)
    }

    /// Lets the port go: from now on anyone may listen on it.
    func release() {
        _ = close(self.descriptor)
    }
}

/// What a balancing test sees of its gateway: its address, its metrics and its log.
struct BalancingGateway: Sendable {
    let url: String
    let metrics: TestMetrics
    let logs: CapturedLogs

    var retries: Int64 {
        self.metrics.counterTotal(label: "cinema_gateway_upstream_retries_total", dimensions: [("upstream", "reservation")])
    }

    func isUp(_ instance: String) -> Bool? {
        let value = try? self.metrics.expectMeter(
            "cinema_gateway_upstream_instance_up", [("upstream", "reservation"), ("instance", instance)]
        ).lastValue
        return value.map { $0 == 1 }
    }
}

/// Runs a gateway whose `/reservations` route balances over `instances`.
func withBalancingGateway<Value: Sendable>(
    instances: [String],
    retryInterval: Duration = .seconds(5),
    upstreamTimeout: Duration = .seconds(30),
    _ body: @Sendable (BalancingGateway) async throws -> Value
) async throws -> Value {
    let configuration = GatewayConfiguration(
        host: "127.0.0.1", port: 0,
        routes: [GatewayRoute(prefix: "/reservations", upstreamName: "reservation", upstreams: instances)],
        upstreamTimeout: upstreamTimeout, upstreamRetryInterval: retryInterval
    )
    let httpClient = HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: .gateway(for: configuration))
    let metrics = TestMetrics()
    let logs = CapturedLogs()
    let app = buildGatewayApplication(
        configuration: configuration, httpClient: httpClient, logger: testLogger("gateway"),
        limiters: UpstreamLimiters(configuration: configuration, logger: testLogger("gateway")),
        balancers: UpstreamBalancers(configuration: configuration, logger: logs.logger, metricsFactory: metrics)
    )
    let result: Result<Value, any Error>
    do {
        result = .success(
            try await app.test(.live) { client in
                try await body(BalancingGateway(url: "http://127.0.0.1:\(try #require(client.port))", metrics: metrics, logs: logs))
            })
    } catch {
        result = .failure(error)
    }
    try await httpClient.shutdown()
    return try result.get()
}
