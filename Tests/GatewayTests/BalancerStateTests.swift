import Logging
import MetricsTestKit
import Synchronization
import Testing

@testable import Gateway

/// The balancing rules as plain values: which instance each request gets, and what a refusal, a probe and the
/// passing of time do to that.
@Suite("Balancer state")
struct BalancerStateTests {
    typealias Choice = BalancerState.Choice
    static let retry = Duration.seconds(5)
    let start = ContinuousClock.now

    @Test(arguments: [1, 2, 3, 5])
    func idleRequestsGoRoundRobin(instances: Int) {
        let state = Rules(instanceCount: instances, retryInterval: Self.retry)
        let order = state.sequence(count: 3 * instances, at: self.start)
        #expect(order == (0..<(3 * instances)).map { $0 % instances })
    }

    @Test func theInstanceWithFewestInFlightIsChosen() {
        let state = Rules(instanceCount: 3, retryInterval: Self.retry)
        // Three held requests, one per instance, then a fourth: round-robin again.
        let held = (0..<4).compactMap { _ in state.choose(now: self.start) }
        #expect(held.map(\.index) == [0, 1, 2, 0])
        // Whichever instance is done first is the least busy, and gets the next request.
        state.released(held[1], connected: true, now: self.start)
        #expect(state.choose(now: self.start)?.index == 1)
        state.released(held[2], connected: true, now: self.start)
        #expect(state.choose(now: self.start)?.index == 2)
        #expect(state.instances.map(\.inFlight) == [2, 1, 1])
        // 1 and 2 tie: the search starts after the last chosen (2), passes over the busier 0 and takes 1.
        #expect(state.choose(now: self.start)?.index == 1)
    }

    /// Instances marked down are skipped; the others share the requests round-robin.
    @Test(arguments: [
        (3, [1], [0, 2, 0, 2, 0, 2]),
        (3, [0], [1, 2, 1, 2, 1, 2]),
        (3, [0, 2], [1, 1, 1, 1, 1, 1]),
        (4, [1, 3], [0, 2, 0, 2, 0, 2]),
        (2, [1], [0, 0, 0, 0, 0, 0]),
    ])
    func downInstancesAreSkipped(instances: Int, down: [Int], expected: [Int]) {
        let state = Rules(instanceCount: instances, retryInterval: Self.retry)
        for index in down {
            // A request that happened to be sent there was refused.
            while let choice = state.choose(now: self.start) {
                if choice.index == index {
                    #expect(state.refused(choice, now: self.start) == .markedDown)
                    break
                }
                state.released(choice, connected: true, now: self.start)
            }
        }
        let order = state.sequence(count: expected.count, at: self.start + .seconds(1))
        #expect(order.compactMap { $0 }.sorted() == expected.sorted())
        #expect(!order.contains { $0.map(down.contains) ?? true })
    }

    @Test func everyInstanceDownMeansNoChoice() throws {
        let state = Rules(instanceCount: 2, retryInterval: Self.retry)
        for _ in 0..<2 {
            let choice = try #require(state.choose(now: self.start))
            #expect(state.refused(choice, now: self.start) == .markedDown)
        }
        #expect(state.choose(now: self.start) == nil)
        #expect(state.choose(now: self.start + Self.retry - .milliseconds(1)) == nil)
        #expect(state.instances.map(\.inFlight) == [0, 0])
    }

    @Test func aRequestRefusedEverywhereItCouldGoHasNoChoiceLeft() {
        let state = Rules(instanceCount: 3, retryInterval: Self.retry)
        var tried: Set<Int> = []
        while let choice = state.choose(now: self.start, excluding: tried) {
            tried.insert(choice.index)
            _ = state.refused(choice, now: self.start)
        }
        #expect(tried == [0, 1, 2])
    }

    @Test func aRetriedRequestGoesToAnInstanceItHasNotTried() throws {
        let state = Rules(instanceCount: 3, retryInterval: Self.retry)
        let first = try #require(state.choose(now: self.start))
        #expect(state.refused(first, now: self.start) == .markedDown)
        let second = try #require(state.choose(now: self.start, excluding: [first.index]))
        #expect(second.index != first.index)
        #expect(second.isProbe == false)
    }

    /// After the period, one request probes the instance while the others keep away from it; the probe decides.
    @Test(arguments: [true, false])
    func afterThePeriodOneRequestProbes(probeGetsThrough: Bool) throws {
        let state = Rules(instanceCount: 2, retryInterval: Self.retry)
        let refused = try #require(state.choose(now: self.start))
        #expect(refused.index == 0)
        #expect(state.refused(refused, now: self.start) == .markedDown)
        #expect(state.sequence(count: 3, at: self.start + .seconds(4)) == [1, 1, 1])

        // Instance 1 is busy when the period ends, so the least-loaded choice is the one due for a probe.
        let busy = try #require(state.choose(now: self.start + .seconds(4)))
        #expect(busy == Choice(index: 1, isProbe: false))
        let afterPeriod = self.start + Self.retry
        let probe = try #require(state.choose(now: afterPeriod))
        #expect(probe == Choice(index: 0, isProbe: true))
        // While it is out, the others do not go there, however idle instance 0 looks.
        state.released(busy, connected: true, now: afterPeriod)
        #expect(state.sequence(count: 3, at: afterPeriod) == [1, 1, 1])

        let answered = afterPeriod + .milliseconds(20)
        if probeGetsThrough {
            #expect(state.connected(probe, now: answered) == .backUp(after: Self.retry + .milliseconds(20)))
            state.released(probe, connected: true, now: answered)
            #expect(state.sequence(count: 4, at: answered) == [0, 1, 0, 1])
        } else {
            #expect(state.refused(probe, now: answered) == nil, "still down is no news")
            #expect(state.sequence(count: 3, at: answered + Self.retry - .milliseconds(1)) == [1, 1, 1])
            // A whole new period from the failed probe.
            #expect(state.choose(now: answered + Self.retry) == Choice(index: 0, isProbe: true))
        }
    }

    /// A probe whose client left (or that never got a connection from the pool) says nothing: the next one probes.
    @Test func anInconclusiveProbeIsRepeatedAtOnce() throws {
        let state = Rules(instanceCount: 2, retryInterval: Self.retry)
        let refused = try #require(state.choose(now: self.start))
        _ = state.refused(refused, now: self.start)
        let later = self.start + Self.retry
        let probe = try #require(state.choose(now: later, excluding: [1]))
        #expect(probe == Choice(index: 0, isProbe: true))
        state.released(probe, connected: false, now: later)
        #expect(state.instances[0].health == .down(since: self.start, retryAt: later))
        #expect(state.choose(now: later, excluding: [1]) == Choice(index: 0, isProbe: true))
    }

    /// A request sent before the instance went down may still be answered over an old connection; that does not
    /// bring the instance back, only a probe does.
    @Test func anOldRequestAnsweredDoesNotBringAnInstanceBack() throws {
        let state = Rules(instanceCount: 2, retryInterval: Self.retry)
        let old = try #require(state.choose(now: self.start))
        let refused = try #require(state.choose(now: self.start, excluding: [1]))
        #expect(refused.index == old.index)
        #expect(state.refused(refused, now: self.start) == .markedDown)
        #expect(state.connected(old, now: self.start) == nil)
        state.released(old, connected: true, now: self.start)
        #expect(state.instances[old.index].health == .down(since: self.start, retryAt: self.start + Self.retry))
        #expect(state.sequence(count: 2, at: self.start) == [1, 1])
    }

    /// With one instance there is nowhere else to go: it is tried on every request, down or not, as before balancing.
    @Test func aSingleInstanceIsNeverSkipped() throws {
        let state = Rules(instanceCount: 1, retryInterval: Self.retry)
        let first = try #require(state.choose(now: self.start))
        #expect(first == Choice(index: 0, isProbe: false))
        #expect(state.refused(first, now: self.start) == .markedDown)
        // At once, well within the period, and from several requests at a time.
        let probes = (0..<3).compactMap { _ in state.choose(now: self.start + .milliseconds(1)) }
        #expect(probes == Array(repeating: Choice(index: 0, isProbe: true), count: 3))
        #expect(state.refused(probes[0], now: self.start + .milliseconds(2)) == nil)
        #expect(state.connected(probes[1], now: self.start + .milliseconds(3)) == .backUp(after: .milliseconds(3)))
        #expect(state.connected(probes[2], now: self.start + .milliseconds(3)) == nil)
        for probe in probes.dropFirst() { state.released(probe, connected: true, now: self.start) }
        #expect(state.instances == [BalancerState.Instance(health: .up, inFlight: 0)])
        // Only the request it already refused has nowhere to go.
        #expect(state.choose(now: self.start, excluding: [0]) == nil)
    }

    @Test func noInstancesMeansNoChoice() {
        let state = Rules(instanceCount: 0, retryInterval: Self.retry)
        #expect(state.choose(now: self.start) == nil)
    }

    /// Random arrivals, refusals, answers and clock steps: whatever happens, every request ends its attempt, nothing
    /// stays in flight, and a choice is never an instance that is down inside its period.
    @Test(arguments: [1, 2, 3, 4])
    func randomOperationsKeepTheBooksStraight(instances: Int) {
        var generator = SplitMix64(seed: UInt64(instances) &* 0x9E37_79B9)
        let state = Rules(instanceCount: instances, retryInterval: .milliseconds(50))
        var now = self.start
        var open: [(choice: Choice, connected: Bool)] = []
        for _ in 0..<5000 {
            switch generator.next() % 5 {
            case 0, 1:
                let before = state.instances
                if let choice = state.choose(now: now) {
                    if instances > 1 {
                        switch before[choice.index].health {
                        case .up: #expect(!choice.isProbe)
                        case .down(_, let retryAt): #expect(choice.isProbe && now >= retryAt, "chose a down instance")
                        case .probing: Issue.record("a second probe of one instance")
                        }
                    }
                    open.append((choice, false))
                } else {
                    #expect(instances > 1, "a single instance is always chosen")
                }
            case 2:
                guard !open.isEmpty else { continue }
                let index = Int(generator.next() % UInt64(open.count))
                if open[index].connected {
                    state.released(open.remove(at: index).choice, connected: true, now: now)
                } else if generator.next() % 2 == 0 {
                    _ = state.refused(open.remove(at: index).choice, now: now)
                } else {
                    _ = state.connected(open[index].choice, now: now)
                    open[index].connected = true
                }
            case 3:
                guard !open.isEmpty else { continue }
                let index = Int(generator.next() % UInt64(open.count))
                let attempt = open.remove(at: index)
                state.released(attempt.choice, connected: attempt.connected, now: now)
            default:
                now += .milliseconds(Int64(generator.next() % 20))
            }
            let counted = state.instances.map(\.inFlight).reduce(0, +)
            if counted != open.count {
                Issue.record("\(counted) in flight, \(open.count) attempts open")
                return
            }
        }
        for attempt in open { state.released(attempt.choice, connected: attempt.connected, now: now) }
        #expect(state.instances.allSatisfy { $0.inFlight == 0 })
    }
}

/// The rules behind a reference, so that `#expect` and `#require` can call their mutating methods.
final class Rules {
    private var state: BalancerState

    init(instanceCount: Int, retryInterval: Duration) {
        self.state = BalancerState(instanceCount: instanceCount, retryInterval: retryInterval)
    }

    var instances: [BalancerState.Instance] { self.state.instances }

    func choose(now: ContinuousClock.Instant, excluding tried: Set<Int> = []) -> BalancerState.Choice? {
        self.state.choose(now: now, excluding: tried)
    }

    func connected(_ choice: BalancerState.Choice, now: ContinuousClock.Instant) -> BalancerState.Transition? {
        self.state.connected(choice, now: now)
    }

    func refused(_ choice: BalancerState.Choice, now: ContinuousClock.Instant) -> BalancerState.Transition? {
        self.state.refused(choice, now: now)
    }

    func released(_ choice: BalancerState.Choice, connected: Bool, now: ContinuousClock.Instant) {
        self.state.released(choice, connected: connected, now: now)
    }

    /// Chooses and releases one request at a time (no load): the index of each.
    func sequence(count: Int, at now: ContinuousClock.Instant) -> [Int?] {
        (0..<count).map { _ in
            guard let choice = self.choose(now: now) else { return nil }
            self.released(choice, connected: true, now: now)
            return choice.index
        }
    }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let current = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { self.current.withLock { $0 } }
    func advance(by duration: Duration) { self.current.withLock { $0 += duration } }
}

/// The balancer with its clock, log and metrics: what an operator sees when an instance goes down and comes back.
@Suite("Upstream balancer")
struct UpstreamBalancerTests {
    let clock = ManualClock()
    let metrics = TestMetrics()
    let logs = CapturedLogs()
    let instances = ["http://10.0.0.1:8083", "http://10.0.0.2:8083"]

    func makeBalancer() -> UpstreamBalancer {
        UpstreamBalancer(
            upstream: "reservation", instances: self.instances, retryInterval: .seconds(5), logger: self.logs.logger,
            metricsFactory: self.metrics, now: { [clock] in clock.now })
    }

    func up(_ instance: String) -> Double? {
        try? self.metrics.expectMeter(
            "cinema_gateway_upstream_instance_up", [("upstream", "reservation"), ("instance", instance)]
        ).lastValue
    }

    @Test func downAndBackAreLoggedAndGauged() throws {
        let balancer = makeBalancer()
        #expect(self.instances.map(self.up) == [1, 1])

        let refused = try #require(balancer.choose())
        #expect(refused.instance == self.instances[0])
        refused.refused(error: TestError.refused)
        let retried = try #require(balancer.choose(excluding: [refused.choice.index]))
        balancer.recordRetry(on: retried)
        #expect(retried.instance == self.instances[1])
        retried.connected()
        retried.release()
        #expect(self.up(self.instances[0]) == 0)
        #expect(self.up(self.instances[1]) == 1)
        #expect(
            self.metrics.counterTotal(label: "cinema_gateway_upstream_retries_total", dimensions: [("upstream", "reservation")]) == 1)

        let down = try #require(self.logs.entries.first { $0.level == .warning })
        #expect(down.metadata["upstream.name"] == "reservation")
        #expect(down.metadata["upstream.instance"] == .string(self.instances[0]))
        #expect(down.metadata["upstream.retry_ms"]?.description == "5000")

        // Within the period every request goes to the other one.
        for _ in 0..<3 {
            let lease = try #require(balancer.choose())
            #expect(lease.instance == self.instances[1])
        }
        self.clock.advance(by: .seconds(5))
        let probe = try #require(balancer.choose())
        #expect(probe.instance == self.instances[0])
        #expect(probe.choice.isProbe)
        probe.connected()
        #expect(self.up(self.instances[0]) == 1)
        let back = try #require(self.logs.entries.first { $0.message.contains("back in rotation") })
        #expect(back.level == .notice)
        #expect(back.metadata["upstream.name"] == "reservation")
        #expect(back.metadata["upstream.instance"] == .string(self.instances[0]))
        #expect(back.metadata["upstream.down_ms"]?.description == "5000")
        #expect(self.logs.entries.filter { $0.level >= .notice }.count == 2, "one line down, one back")
    }

    /// A lease dropped without being ended (a response never written) still gives its place back.
    @Test func aDroppedLeaseIsReleased() throws {
        let balancer = makeBalancer()
        do {
            let lease = try #require(balancer.choose())
            lease.connected()
            #expect(balancer.snapshot.map(\.inFlight) == [1, 0])
        }
        #expect(balancer.snapshot.map(\.inFlight) == [0, 0])
        // Ending one twice, or refusing after connecting, changes nothing more.
        let lease = try #require(balancer.choose())
        lease.connected()
        lease.refused(error: TestError.refused)
        lease.release()
        lease.release()
        #expect(balancer.snapshot.map(\.inFlight) == [0, 0])
        #expect(balancer.snapshot.allSatisfy { $0.health == .up })
    }
}

enum TestError: Error {
    case refused
}
