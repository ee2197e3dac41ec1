import AsyncHTTPClient
import CinemaJSON
import CinemaPolling
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

extension Drills {
    /// How long drill (i) keeps the reservation service frozen.
    static let reservationStall: Duration = .seconds(5)
    /// Requests sent at once to the frozen service.
    static let stallBurst = 300
    /// The gateway's limits for reservation in drill (i): 8 in flight and 16 queued for at most 1 s, so 300 requests
    /// exceed them by far. The environment reaches every process; only the gateway reads these.
    static let sheddingLimits = [
        "RESERVATION_MAX_CONCURRENT": "8", "RESERVATION_MAX_QUEUED": "16", "GATEWAY_QUEUE_TIMEOUT_MS": "1000",
        "GATEWAY_RETRY_AFTER_SECONDS": "1",
    ]
    /// The routes timed before and during the stall: none of them touches the reservation service.
    static let otherRoutes = ["/movies", "/movieviews", "/messages"]
    /// Requests per route for each timing.
    static let timingRounds = 100

    /// (i): the reservation service frozen (SIGSTOP) while 300 reservations hit it at once through the gateway. The
    /// gateway sheds what exceeds its limit and queue at once (503, Retry-After), the queued rest after the queue
    /// timeout; the other routes answer as fast as before; after SIGCONT the admitted requests and new ones go
    /// through, no shed request created a reservation, and every process is still the same one.
    @Test func reservationStuckUnderABurstIsShedWhileOtherRoutesStayFast() async throws {
        let maxConcurrent = 8
        try await CinemaCluster.with(environment: Self.timings.merging(Self.sheddingLimits) { _, drill in drill }) { cluster in
            try await prepareMovie(cluster)
            let processesBefore = cluster.servicePids()
            let reservedBefore = try await reservedIds(cluster)
            let totalBefore = try await cluster.total("reservations")
            let started = ContinuousClock.now

            try await withDrillClient(connections: Self.stallBurst + 20) { burstClient in
                try await withDrillClient(connections: Self.otherRoutes.count * 2) { probeClient in
                    let gatewayURL = cluster.gatewayURL
                    let baseline = try await timeOtherRoutes(gatewayURL, client: probeClient)

                    cluster.processes["reservation"]?.freeze(true)
                    let stallStarted = ContinuousClock.now
                    let answers = BurstAnswers()
                    let stalled = try await withThrowingTaskGroup(of: Void.self) { burst in
                        for index in 0..<Self.stallBurst {
                            burst.addTask {
                                let sent = ContinuousClock.now
                                let reply = try? await burstClient.send(.POST, gatewayURL + "/reservations", body: Self.reservation(index))
                                answers.record(reply, after: ContinuousClock.now - sent)
                            }
                        }
                        // Timed while the burst is shed and the admitted requests hang on the frozen service.
                        let stalled = try await timeOtherRoutes(gatewayURL, client: probeClient)
                        // Everything beyond the slots is answered while the service is still frozen: nothing hangs.
                        _ = try await eventually("every request beyond the \(maxConcurrent) slots is answered", timeout: .seconds(20)) {
                            () -> Bool? in
                            answers.count >= Self.stallBurst - maxConcurrent ? true : nil
                        }
                        #expect(ContinuousClock.now - stallStarted < Self.reservationStall, "the shedding took longer than the stall")
                        // The fault lasts its full length, then the service goes on where it stopped.
                        try await Task.sleep(until: stallStarted + Self.reservationStall, clock: .continuous)
                        cluster.processes["reservation"]?.freeze(false)
                        try await burst.waitForAll()
                        return stalled
                    }

                    // Reservations work again.
                    let after = try await eventually("a reservation after the thaw", timeout: .seconds(30)) { () -> Int64? in
                        let reply = try await cluster.request(.POST, "/reservations", body: Self.reservation(0))
                        guard reply.status == 201, case .integer(let id)? = reply.json?["rsvId"] else { return nil }
                        return id
                    }
                    let summary = answers.summary
                    let accepted = Set(summary.acceptedIds)
                    let settled = try? await eventually("the admitted reservations are confirmed", timeout: .seconds(60)) { () -> Bool? in
                        try await reservedIds(cluster).isSuperset(of: accepted.union([after])) ? true : nil
                    }
                    let reserved = try await reservedIds(cluster)
                    let created = try await cluster.total("reservations") - totalBefore - 1
                    // Requests that were not shed may have reached the service; a shed one never may.
                    let mayHaveCreated = Self.stallBurst - summary.shed.count
                    let alive = cluster.processes.values.filter(\.isRunning).count

                    let figures = DrillFigures(
                        drill: "(i) reservation frozen (SIGSTOP) \(Self.reservationStall) under \(Self.stallBurst) concurrent reservations",
                        sent: Self.stallBurst, accepted: accepted.count, confirmed: accepted.intersection(reserved).count,
                        lost: accepted.subtracting(reserved).count, doubled: max(0, created - mayHaveCreated),
                        seconds: (ContinuousClock.now - started).secondsValue,
                        note: "gateway limit \(maxConcurrent) + 16 queued (1 s); answers \(summary.statuses); "
                            + "shed \(summary.shed.count) (p50 \(ms(summary.shed.percentile(50))), max \(ms(summary.shed.percentile(100)))): "
                            + "\(summary.shedAtOnce.count) at once (p50 \(ms(summary.shedAtOnce.percentile(50))), "
                            + "max \(ms(summary.shedAtOnce.percentile(100)))), \(summary.shedAfterWaiting.count) after the queue timeout "
                            + "(max \(ms(summary.shedAfterWaiting.percentile(100)))), latencies as the client saw them, "
                            + "its \(Self.stallBurst) connections opened with the requests; "
                            + Self.otherRoutes.map { route in
                                "\(route) p50/p99 \(ms(baseline[route]?.percentile(50)))/\(ms(baseline[route]?.percentile(99))) before, "
                                    + "\(ms(stalled[route]?.percentile(50)))/\(ms(stalled[route]?.percentile(99))) stalled"
                            }.joined(separator: "; ")
                            + "; \(created) reservations created for \(accepted.count) 201s; \(alive)/\(cluster.processes.count) processes alive"
                    )
                    figures.record()

                    #expect(summary.shed.count == Self.stallBurst - maxConcurrent, "\(summary.statuses)")
                    #expect(accepted.count == maxConcurrent, "the admitted requests are answered once the service thaws")
                    #expect(summary.unexplained == 0, "answers other than 201 and the gateway's 503: \(summary.statuses)")
                    // At once means without waiting for a slot: faster than any queued request could be refused.
                    #expect(summary.shedAtOnce.percentile(50) < .seconds(1))
                    #expect(summary.shedAfterWaiting.allSatisfy { $0 < .seconds(3) }, "a queued request waited past its timeout")
                    for route in Self.otherRoutes {
                        // Seconds would mean the route waited on the frozen service; it must stay well below.
                        #expect((stalled[route]?.percentile(99) ?? .seconds(60)) < .seconds(1), "\(route) slowed down")
                    }
                    #expect(settled == true)
                    #expect(figures.lost == 0 && figures.doubled == 0)
                    #expect(created == accepted.count, "a shed or timed-out request created a reservation")
                    #expect(reserved.isSuperset(of: reservedBefore))
                    #expect(cluster.servicePids() == processesBefore, "a process died or was restarted")
                }
            }
        }
    }

    /// Latencies of `timingRounds` sequential GETs per route, the routes side by side. Every answer must be a 200.
    func timeOtherRoutes(_ gatewayURL: String, client: HTTPClient) async throws -> [String: [Duration]] {
        try await withThrowingTaskGroup(of: (String, [Duration]).self) { routes in
            for route in Self.otherRoutes {
                routes.addTask {
                    var latencies: [Duration] = []
                    for _ in 0..<Self.timingRounds {
                        let sent = ContinuousClock.now
                        let reply = try await client.send(.GET, gatewayURL + route + "?size=5", body: nil)
                        latencies.append(ContinuousClock.now - sent)
                        #expect(reply.status == 200, "\(route): \(reply.text)")
                    }
                    return (route, latencies)
                }
            }
            return try await routes.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
    }
}

/// The answers of the burst, recorded as they come.
final class BurstAnswers: Sendable {
    struct Summary {
        var statuses = ""
        var acceptedIds: [Int64] = []
        /// The gateway's 503s naming reservation as overloaded.
        var shed: [Duration] = []
        /// Refused because limit and queue were full.
        var shedAtOnce: [Duration] = []
        /// Refused after waiting in the queue for the queue timeout.
        var shedAfterWaiting: [Duration] = []
        /// Anything else: no answer, a 5xx of another kind.
        var unexplained = 0
    }

    private struct Answer {
        var status: Int
        var id: Int64?
        var message: String
        var latency: Duration
    }

    private let answers = Mutex<[Answer]>([])

    var count: Int { self.answers.withLock { $0.count } }

    func record(_ reply: CinemaCluster.Reply?, after latency: Duration) {
        var id: Int64?
        if case .integer(let value)? = reply?.json?["rsvId"] { id = value }
        var message = ""
        if case .string(let text)? = reply?.json?["message"] { message = text }
        let answer = Answer(status: reply?.status ?? 0, id: id, message: message, latency: latency)
        self.answers.withLock { $0.append(answer) }
    }

    var summary: Summary {
        let answers = self.answers.withLock { $0 }
        var summary = Summary()
        var byStatus: [Int: Int] = [:]
        for answer in answers {
            byStatus[answer.status, default: 0] += 1
            if answer.status == 201, let id = answer.id {
                summary.acceptedIds.append(id)
            } else if answer.status == 503, answer.message.hasPrefix("reservation is overloaded") {
                summary.shed.append(answer.latency)
                if answer.message.contains("no slot came free") {
                    summary.shedAfterWaiting.append(answer.latency)
                } else {
                    summary.shedAtOnce.append(answer.latency)
                }
            } else {
                summary.unexplained += 1
            }
        }
        summary.statuses = byStatus.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")
        return summary
    }
}

extension [Duration] {
    /// The nearest-rank percentile (100 = the maximum); zero for no values.
    func percentile(_ percent: Int) -> Duration {
        guard !isEmpty else { return .zero }
        let sorted = self.sorted()
        let rank = Int((Double(percent) / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(sorted.count - 1, Swift.max(0, rank - 1))]
    }
}

/// `12 ms`, to one decimal below 10 ms; `–` when unknown.
func ms(_ duration: Duration?) -> String {
    guard let duration else { return "–" }
    let (seconds, attoseconds) = duration.components
    let milliseconds = Double(seconds) * 1000 + Double(attoseconds) / 1e15
    return milliseconds < 10 ? "\(milliseconds.rounded(toPlaces: 1)) ms" : "\(Int(milliseconds.rounded())) ms"
}

/// A client of its own for a drill: `HTTPClient.shared` opens at most 8 connections per host, which would queue a
/// burst inside the client (and the timed requests behind it) instead of sending it to the gateway at once.
func withDrillClient<Value>(connections: Int, _ body: (HTTPClient) async throws -> Value) async throws -> Value {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
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

extension HTTPClient {
    /// What `CinemaCluster.send` does, on this client.
    func send(_ method: HTTPMethod, _ url: String, body: String?) async throws -> CinemaCluster.Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await self.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
        let data = Array(bytes.readableBytesView)
        return CinemaCluster.Reply(
            status: Int(response.status.code), headers: response.headers,
            json: try? JSONValue.parse(data), text: String(decoding: data, as: UTF8.self)
        )
    }
}
