import CinemaPolling
import Logging
import Metrics
import MetricsTestKit
import Synchronization
import Testing

@testable import Gateway

/// The limiter with real tasks and continuations: waiting, timing out, being cancelled, counting.
@Suite("Upstream limiter")
struct UpstreamLimiterTests {
    struct Fixture {
        let limiter: UpstreamLimiter
        let metrics: TestMetrics

        init(maxConcurrent: Int, maxQueued: Int, queueTimeout: Duration = .seconds(30)) {
            self.metrics = TestMetrics()
            self.limiter = UpstreamLimiter(
                upstream: "reservation",
                limits: UpstreamLimits(maxConcurrent: maxConcurrent, maxQueued: maxQueued, queueTimeout: queueTimeout),
                logger: testLogger("limiter"),
                metricsFactory: self.metrics
            )
        }

        func gauge(_ name: String) -> Double? {
            try? self.metrics.expectMeter("cinema_gateway_upstream_\(name)", [("upstream", "reservation")]).lastValue
        }

        func shed(_ reason: String) -> Int64 {
            self.metrics.counterTotal(label: "cinema_gateway_shed_total", dimensions: [("upstream", "reservation"), ("reason", reason)])
        }

        /// Polls the limiter's state until `condition` holds; the failure shows the last state.
        func waitUntil(
            _ description: String, timeout: Duration = .seconds(10),
            _ condition: ((inFlight: Int, queued: Int, isShedding: Bool)) -> Bool
        ) async throws {
            do {
                try await CinemaPolling.waitUntil(description, timeout: timeout, interval: .milliseconds(5)) {
                    condition(self.limiter.snapshot)
                }
            } catch is TimedOut {
                throw TimedOut(waitingFor: "\(description); state \(self.limiter.snapshot)")
            }
        }
    }

    @Test(arguments: [(1, 0), (1, 2), (3, 5), (8, 16)])
    func admitsQueuesAndShedsTheRestAtOnce(maxConcurrent: Int, maxQueued: Int) async throws {
        let fixture = Fixture(maxConcurrent: maxConcurrent, maxQueued: maxQueued)
        var permits: [UpstreamPermit] = []
        for _ in 0..<maxConcurrent {
            guard case .admitted(let permit) = await fixture.limiter.acquire() else {
                Issue.record("refused below the limit")
                return
            }
            permits.append(permit)
        }
        try await withThrowingTaskGroup(of: Bool.self) { waiters in
            for _ in 0..<maxQueued {
                waiters.addTask {
                    guard case .admitted(let permit) = await fixture.limiter.acquire() else { return false }
                    permit.release()
                    return true
                }
            }
            try await fixture.waitUntil("every waiter is queued") { $0.queued == maxQueued }
            #expect(fixture.gauge("queued") ?? 0 == Double(maxQueued))
            #expect(fixture.gauge("in_flight") == Double(maxConcurrent))

            let started = ContinuousClock.now
            guard case .shed(.queueFull) = await fixture.limiter.acquire() else {
                Issue.record("admitted beyond limit and queue")
                return
            }
            // At once: nowhere near the 30 s queue timeout.
            #expect(ContinuousClock.now - started < .seconds(1))
            #expect(fixture.shed("queue_full") == 1)
            #expect(fixture.limiter.snapshot.isShedding)

            for permit in permits { permit.release() }
            for try await admitted in waiters { #expect(admitted) }
        }
        #expect(fixture.limiter.snapshot == (0, 0, false))
        #expect(fixture.gauge("in_flight") == 0)
        #expect(fixture.gauge("queued") ?? 0 == 0)
    }

    @Test func releaseResumesTheWaitersInArrivalOrder() async throws {
        let fixture = Fixture(maxConcurrent: 1, maxQueued: 10)
        guard case .admitted(let holder) = await fixture.limiter.acquire() else {
            Issue.record("the first request must be admitted")
            return
        }
        let order = Locked<[Int]>([])
        await withTaskGroup(of: Void.self) { waiters in
            for index in 0..<10 {
                waiters.addTask {
                    guard case .admitted(let permit) = await fixture.limiter.acquire() else { return }
                    order.update { $0.append(index) }
                    permit.release()
                }
                // One at a time into the queue, so that the arrival order is known.
                try? await fixture.waitUntil("waiter \(index) is queued") { $0.queued == index + 1 }
            }
            holder.release()
        }
        #expect(order.value == Array(0..<10))
        #expect(fixture.limiter.snapshot == (0, 0, false))
    }

    @Test func aWaiterIsShedWhenTheQueueTimeoutPasses() async throws {
        let fixture = Fixture(maxConcurrent: 1, maxQueued: 2, queueTimeout: .milliseconds(200))
        guard case .admitted(let holder) = await fixture.limiter.acquire() else {
            Issue.record("the first request must be admitted")
            return
        }
        let started = ContinuousClock.now
        async let first = fixture.limiter.acquire()
        async let second = fixture.limiter.acquire()
        let outcomes = await [first, second]
        let elapsed = ContinuousClock.now - started
        for outcome in outcomes {
            guard case .shed(.queueTimeout) = outcome else {
                Issue.record("expected a queue timeout, got \(outcome)")
                continue
            }
        }
        #expect(elapsed >= .milliseconds(200))
        #expect(elapsed < .seconds(5))
        #expect(fixture.shed("queue_timeout") == 2)
        #expect(fixture.limiter.snapshot == (1, 0, true))
        holder.release()
        #expect(fixture.limiter.snapshot == (0, 0, false))
    }

    enum Departure: String, CaseIterable {
        case cancelledWhileQueued, cancelledBeforeArriving, clientGoneWhileQueued, clientGoneBeforeArriving
    }

    @Test(arguments: Departure.allCases)
    func aWaiterThatLeavesFreesItsPlaceAndIsNotHandedASlot(_ departure: Departure) async throws {
        let fixture = Fixture(maxConcurrent: 1, maxQueued: 1)
        guard case .admitted(let holder) = await fixture.limiter.acquire() else {
            Issue.record("the first request must be admitted")
            return
        }
        let clientInput = ConnectionInputSignal()
        if departure == .clientGoneBeforeArriving { clientInput.close() }
        let waiter = Task {
            if departure == .cancelledBeforeArriving { withUnsafeCurrentTask { $0?.cancel() } }
            return await fixture.limiter.acquire(clientInput: { clientInput })
        }
        switch departure {
        case .cancelledWhileQueued:
            try await fixture.waitUntil("the waiter is queued") { $0.queued == 1 }
            waiter.cancel()
        case .clientGoneWhileQueued:
            try await fixture.waitUntil("the waiter is queued") { $0.queued == 1 }
            clientInput.close()
        case .cancelledBeforeArriving, .clientGoneBeforeArriving:
            break
        }
        guard case .abandoned = await waiter.value else {
            Issue.record("the waiter must give up")
            return
        }
        #expect(fixture.limiter.snapshot.queued == 0)
        #expect(fixture.shed("queue_timeout") + fixture.shed("queue_full") == 0, "leaving is not being shed")
        // Its place is free again: another request can wait there.
        async let next = fixture.limiter.acquire()
        try await fixture.waitUntil("the next waiter is queued") { $0.queued == 1 }
        holder.release()
        guard case .admitted(let permit) = await next else {
            Issue.record("the next waiter must get the slot")
            return
        }
        permit.release()
        #expect(fixture.limiter.snapshot == (0, 0, false))
        #expect(fixture.gauge("queued") ?? 0 == 0)
    }

    @Test func aDroppedPermitIsReleasedOnce() async throws {
        let fixture = Fixture(maxConcurrent: 1, maxQueued: 0)
        do {
            guard case .admitted(let permit) = await fixture.limiter.acquire() else {
                Issue.record("must be admitted")
                return
            }
            permit.release()
            permit.release()
        }
        #expect(fixture.limiter.snapshot.inFlight == 0)
        // A response dropped before its body was written still gives its slot back.
        if case .admitted = await fixture.limiter.acquire() {} else { Issue.record("must be admitted") }
        #expect(fixture.limiter.snapshot.inFlight == 0)
        #expect(fixture.gauge("in_flight") == 0)
    }

    /// Property-style, with real concurrency: hundreds of requests hold, drop, time out, get cancelled and go away at
    /// random. Every one ends (each continuation resumed, exactly once or the runtime traps), and afterwards no slot
    /// or queue place is left taken, and the gauges are back to zero.
    @Test(arguments: [7, 11, 1999] as [UInt64])
    func randomConcurrentTrafficLeaksNoPermit(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        let fixture = Fixture(
            maxConcurrent: Int.random(in: 1...4, using: &random),
            maxQueued: Int.random(in: 0...8, using: &random),
            queueTimeout: .milliseconds(Int.random(in: 5...40, using: &random))
        )
        enum Plan: CaseIterable { case hold, drop, cancel, leave }
        let plans = (0..<400).map { _ in (Plan.allCases.randomElement(using: &random) ?? .hold, Int.random(in: 0...3, using: &random)) }
        let outcomes = Locked<[String: Int]>([:])
        await withTaskGroup(of: Void.self) { requests in
            for (plan, milliseconds) in plans {
                let clientInput = ConnectionInputSignal()
                let request = Task {
                    let admission = await fixture.limiter.acquire(clientInput: { clientInput })
                    let name: String
                    switch admission {
                    case .admitted(let permit):
                        name = "admitted"
                        try? await Task.sleep(for: .milliseconds(milliseconds))
                        // Dropped permits are released by their deinit.
                        if plan != .drop { permit.release() }
                    case .shed(let reason):
                        name = reason.rawValue
                    case .abandoned:
                        name = "abandoned"
                    }
                    outcomes.update { $0[name, default: 0] += 1 }
                }
                requests.addTask {
                    switch plan {
                    case .cancel:
                        try? await Task.sleep(for: .milliseconds(milliseconds))
                        request.cancel()
                    case .leave:
                        try? await Task.sleep(for: .milliseconds(milliseconds))
                        clientInput.close()
                    case .hold, .drop:
                        break
                    }
                    await request.value
                }
            }
        }
        let counts = outcomes.value
        #expect(counts.values.reduce(0, +) == plans.count, "\(counts)")
        #expect(fixture.limiter.snapshot == (0, 0, false), "\(counts)")
        #expect(fixture.gauge("in_flight") ?? 0 == 0)
        #expect(fixture.gauge("queued") ?? 0 == 0)
        #expect(Int64(counts["queue_full", default: 0]) == fixture.shed("queue_full"))
        #expect(Int64(counts["queue_timeout", default: 0]) == fixture.shed("queue_timeout"))
    }
}

/// A value shared between tasks.
final class Locked<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    init(_ value: Value) {
        self.storage = Mutex(value)
    }

    var value: Value { self.storage.withLock { $0 } }

    func update(_ change: (inout Value) -> Void) {
        self.storage.withLock { change(&$0) }
    }
}
