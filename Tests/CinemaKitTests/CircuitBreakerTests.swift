import Logging
import Prometheus
import Synchronization
import Testing

@testable import CinemaKit

/// The breaker's rules, driven with made-up instants: no sleeping, no clock.
@Suite struct CircuitBreakerStateMachineTests {
    typealias Machine = CircuitBreakerStateMachine

    /// One made-up start; every instant is an offset from it.
    static let start = ContinuousClock.now
    static func at(_ offset: Duration) -> ContinuousClock.Instant { start + offset }

    /// A call made at `offset` that ended `taking` later with `outcome`; returns the transition it made.
    @discardableResult
    static func call(
        _ machine: inout Machine, _ outcome: Machine.Outcome, at offset: Duration = .zero, taking duration: Duration = .milliseconds(10)
    ) -> Machine.Transition? {
        guard case .permitted(let permit) = machine.acquirePermission(at: at(offset)).decision else {
            Issue.record("a call was rejected while \(machine.state)")
            return nil
        }
        return machine.record(outcome, of: permit, at: at(offset + duration))
    }

    static func permit(_ machine: inout Machine, at offset: Duration) -> Machine.Permit? {
        if case .permitted(let permit) = machine.acquirePermission(at: at(offset)).decision { return permit }
        return nil
    }

    /// `F` a failure, `S` a success, `L` a slow success (as long as the slow-call duration).
    @discardableResult
    static func run(_ pattern: String, on machine: inout Machine, policy: CircuitBreakerPolicy) -> [Machine.Transition] {
        pattern.compactMap { letter in
            switch letter {
            case "F": call(&machine, .failure)
            case "L": call(&machine, .success, taking: policy.slowCallDuration)
            default: call(&machine, .success)
            }
        }
    }

    /// Nothing is judged before the minimum number of calls, however bad they are; at the minimum, the rate decides.
    @Test(arguments: [1, 5, 10])
    func failuresBeforeTheMinimumNumberOfCallsDoNotOpen(minimumCalls: Int) {
        let policy = CircuitBreakerPolicy(windowSize: 10, minimumCalls: minimumCalls, failureRatePercent: 50)
        var machine = Machine(policy: policy)
        let transitions = Self.run(String(repeating: "F", count: minimumCalls - 1), on: &machine, policy: policy)
        #expect(transitions.isEmpty)
        #expect(machine.state == .closed)
        let opening = Self.call(&machine, .failure)
        #expect(opening?.from == .closed && opening?.to == .open)
        #expect(opening?.calls == minimumCalls)
        #expect(opening?.failureRatePercent == 100)
    }

    /// A window smaller than the minimum is judged once it is full (the minimum is capped at the window).
    @Test func aMinimumAboveTheWindowIsCappedAtTheWindow() {
        let policy = CircuitBreakerPolicy(windowSize: 3, minimumCalls: 10)
        var machine = Machine(policy: policy)
        let transitions = Self.run("FFF", on: &machine, policy: policy)
        #expect(transitions.map(\.to) == [.open])
    }

    /// The failure rate at or over the threshold opens; under it stays closed.
    @Test(arguments: [
        ("FFFFFSSSSS", CircuitBreakerStateMachine.State.open),  // 50 %
        ("SSSSSFFFFF", .open),  // order does not matter within the window
        ("FFFFSSSSSS", .closed),  // 40 %
        ("SSSSSSSSSS", .closed),
    ])
    func theFailureRateOpensAtItsThreshold(pattern: String, expected: CircuitBreakerStateMachine.State) {
        let policy = CircuitBreakerPolicy(windowSize: 10, minimumCalls: 10, failureRatePercent: 50)
        var machine = Machine(policy: policy)
        Self.run(pattern, on: &machine, policy: policy)
        #expect(machine.state == expected)
    }

    /// Slow calls open the breaker on their own rate, even when every one of them succeeded.
    @Test(arguments: [("LLLLS", CircuitBreakerStateMachine.State.open), ("LLLSS", .closed)])
    func slowCallsOpenAtTheirOwnThreshold(pattern: String, expected: CircuitBreakerStateMachine.State) {
        let policy = CircuitBreakerPolicy(windowSize: 5, minimumCalls: 5, slowCallRatePercent: 80, slowCallDuration: .seconds(2))
        var machine = Machine(policy: policy)
        let transitions = Self.run(pattern, on: &machine, policy: policy)
        #expect(machine.state == expected)
        if expected == .open {
            #expect(transitions.first?.failureRatePercent == 0)
            #expect(transitions.first?.slowCallRatePercent == 80)
        }
    }

    /// Only the last `windowSize` outcomes count: old failures slide out, new ones slide in.
    @Test func theWindowSlides() {
        let policy = CircuitBreakerPolicy(windowSize: 4, minimumCalls: 4, failureRatePercent: 75)
        var machine = Machine(policy: policy)
        // F F S S: 50 %. S S push both failures out (0 %), F F bring it back to 50 %: never three
        // failures among four consecutive calls.
        #expect(Self.run("FFSSSSFF", on: &machine, policy: policy).isEmpty)
        #expect(machine.state == .closed)
        // One more failure: the last four are S F F F, 75 %.
        #expect(Self.call(&machine, .failure)?.to == .open)
    }

    @Test func theOutcomeWindowKeepsCountsOfItsLastEntries() {
        var window = OutcomeWindow(capacity: 3)
        for (failed, slow) in [(true, true), (true, false), (false, false), (false, true), (false, false)] {
            window.add(failed: failed, slow: slow)
        }
        // Left: (false, false), (false, true), (false, false).
        #expect(window.count == 3)
        #expect(window.failures == 0)
        #expect(window.slowCalls == 1)
    }

    /// Open: rejected at once, with the time left; after the wait, half-open with trial calls.
    @Test func anOpenBreakerRejectsUntilItsWaitIsOverThenLetsTrialsThrough() {
        let policy = CircuitBreakerPolicy(windowSize: 2, minimumCalls: 2, openDuration: .seconds(10), halfOpenCalls: 2)
        var machine = Machine(policy: policy)
        Self.call(&machine, .failure)
        Self.call(&machine, .failure, at: .seconds(1), taking: .seconds(1))  // opens at 2 s, until 12 s
        #expect(machine.state == .open)
        #expect(machine.acquirePermission(at: Self.at(.seconds(5))).decision == .rejected(retryAfter: .seconds(7)))
        #expect(machine.acquirePermission(at: Self.at(.milliseconds(11_999))).decision == .rejected(retryAfter: .milliseconds(1)))

        let halfOpening = machine.acquirePermission(at: Self.at(.seconds(12)))
        #expect(halfOpening.transition?.from == .open && halfOpening.transition?.to == .halfOpen)
        #expect(halfOpening.transition?.failureRatePercent == nil)
        guard case .permitted = halfOpening.decision else {
            Issue.record("the first trial call was rejected")
            return
        }
        #expect(Self.permit(&machine, at: .seconds(12)) != nil)
        // Both trials under way: the next call is rejected, with no wait left to tell.
        #expect(machine.acquirePermission(at: Self.at(.seconds(12))).decision == .rejected(retryAfter: .zero))
    }

    /// Looking at the state moves an open breaker whose wait is over to half-open.
    @Test func lookingAfterTheWaitSeesHalfOpen() {
        let policy = CircuitBreakerPolicy(windowSize: 1, minimumCalls: 1, openDuration: .seconds(3))
        var machine = Machine(policy: policy)
        Self.call(&machine, .failure, taking: .zero)
        #expect(machine.observeState(at: Self.at(.seconds(2))).state == .open)
        let looked = machine.observeState(at: Self.at(.seconds(3)))
        #expect(looked.state == .halfOpen)
        #expect(looked.transition?.to == .halfOpen)
    }

    /// Once every trial ended, their rates decide; a breaker that opens again waits its full time again.
    @Test(arguments: [
        ("SSS", CircuitBreakerStateMachine.State.closed),
        ("FSS", .closed),  // 33 % < 50 %
        ("FFS", .open),  // 67 %
        ("LLL", .open),  // all slow
        ("LLS", .closed),  // 67 % slow < 80 %
    ])
    func theTrialCallsDecide(trials: String, expected: CircuitBreakerStateMachine.State) {
        let policy = CircuitBreakerPolicy(
            windowSize: 2, minimumCalls: 2, failureRatePercent: 50, slowCallRatePercent: 80, slowCallDuration: .seconds(2),
            openDuration: .seconds(10), halfOpenCalls: 3)
        var machine = Machine(policy: policy)
        Self.run("FF", on: &machine, policy: policy)
        let trialStart = Duration.seconds(20)
        // All three trials start before any ends.
        let permits = (0..<3).compactMap { _ in Self.permit(&machine, at: trialStart) }
        #expect(permits.count == 3)
        var transitions: [CircuitBreakerStateMachine.Transition] = []
        for (permit, letter) in zip(permits, trials) {
            let duration: Duration = letter == "L" ? .seconds(2) : .milliseconds(10)
            if let transition = machine.record(letter == "F" ? .failure : .success, of: permit, at: Self.at(trialStart + duration)) {
                transitions.append(transition)
            }
        }
        #expect(transitions.map(\.from) == [.halfOpen])
        #expect(transitions.map(\.to) == [expected])
        #expect(transitions.first?.calls == 3)
        if expected == .open {
            let reopenedAt = trialStart + (trials.last == "L" ? .seconds(2) : .milliseconds(10))
            #expect(machine.acquirePermission(at: Self.at(reopenedAt + .seconds(1))).decision == .rejected(retryAfter: .seconds(9)))
        } else {
            // Closed with an empty window: one failure is no longer enough.
            Self.call(&machine, .failure, at: .seconds(30))
            #expect(machine.state == .closed)
        }
    }

    /// A call that started before the last transition judged a state that is gone: its outcome is
    /// not counted (a late timeout from before the breaker opened must not fail a trial).
    @Test func outcomesOfCallsFromAnEarlierStateAreIgnored() {
        let policy = CircuitBreakerPolicy(windowSize: 2, minimumCalls: 2, openDuration: .seconds(1), halfOpenCalls: 1)
        var machine = Machine(policy: policy)
        let early = Self.permit(&machine, at: .zero)
        Self.run("FF", on: &machine, policy: policy)
        #expect(machine.state == .open)
        let trial = Self.permit(&machine, at: .seconds(5))
        #expect(machine.state == .halfOpen)
        if let early { #expect(machine.record(.failure, of: early, at: Self.at(.seconds(6))) == nil) }
        #expect(machine.state == .halfOpen)
        if let trial { #expect(machine.record(.success, of: trial, at: Self.at(.seconds(6)))?.to == .closed) }
    }

    /// A trial given back unused (the work before the call failed) frees its place for another call.
    @Test func aReleasedTrialFreesItsPlace() {
        let policy = CircuitBreakerPolicy(windowSize: 1, minimumCalls: 1, openDuration: .seconds(1), halfOpenCalls: 1)
        var machine = Machine(policy: policy)
        Self.call(&machine, .failure)
        guard let trial = Self.permit(&machine, at: .seconds(2)) else {
            Issue.record("no trial permitted")
            return
        }
        #expect(Self.permit(&machine, at: .seconds(2)) == nil)
        machine.release(trial)
        #expect(Self.permit(&machine, at: .seconds(2)) != nil)
        #expect(machine.state == .halfOpen)
    }
}

/// The shared breaker: what it logs and counts around the machine.
@Suite struct CircuitBreakerTests {
    @Test func transitionsAreLoggedAndCountedAndTheGaugeFollowsTheState() {
        let registry = PrometheusCollectorRegistry()
        let logs = LogCapture()
        let breaker = CircuitBreaker(
            name: "payment", policy: CircuitBreakerPolicy(windowSize: 2, minimumCalls: 2, openDuration: .seconds(5), halfOpenCalls: 1),
            logger: logs.logger(label: "test"), metricsFactory: PrometheusMetricsFactory(registry: registry)
        )
        let start = ContinuousClock.now
        #expect(Self.value(of: #"cinema_circuit_breaker_state{breaker="payment"}"#, in: registry) == 0)
        for _ in 0..<2 {
            guard case .permitted(let permit) = breaker.acquirePermission(now: start) else { return }
            breaker.record(.failure, of: permit, now: start + .seconds(3))
        }
        #expect(breaker.state(now: start + .seconds(4)) == .open)
        #expect(Self.value(of: #"cinema_circuit_breaker_state{breaker="payment"}"#, in: registry) == 2)
        #expect(breaker.acquirePermission(now: start + .seconds(4)) == .rejected(retryAfter: .seconds(4)))
        #expect(breaker.acquirePermission(now: start + .seconds(5)) == .rejected(retryAfter: .seconds(3)))
        #expect(Self.value(of: #"cinema_circuit_breaker_rejected_calls_total{breaker="payment"}"#, in: registry) == 2)

        #expect(breaker.state(now: start + .seconds(8)) == .halfOpen)
        #expect(Self.value(of: #"cinema_circuit_breaker_state{breaker="payment"}"#, in: registry) == 1)
        guard case .permitted(let trial) = breaker.acquirePermission(now: start + .seconds(8)) else {
            Issue.record("no trial call permitted")
            return
        }
        breaker.record(.success, of: trial, now: start + .seconds(9))
        #expect(breaker.state(now: start + .seconds(9)) == .closed)
        #expect(Self.value(of: #"cinema_circuit_breaker_state{breaker="payment"}"#, in: registry) == 0)

        for (from, to, count) in [("closed", "open", 1.0), ("open", "half_open", 1), ("half_open", "closed", 1), ("half_open", "open", 0)] {
            let series = #"cinema_circuit_breaker_transitions_total{breaker="payment",from="\#(from)",to="\#(to)"}"#
            #expect(Self.value(of: series, in: registry) == count, "\(series)")
        }

        let transitions = logs.records.filter { $0.metadata["breaker.to"] != nil }
        #expect(transitions.map(\.level) == [.warning, .notice, .notice])
        #expect(transitions.map { $0.metadata["breaker.to"]?.description } == ["OPEN", "HALF_OPEN", "CLOSED"])
        #expect(transitions.map { $0.metadata["breaker.from"]?.description } == ["CLOSED", "OPEN", "HALF_OPEN"])
        #expect(transitions.allSatisfy { $0.metadata["breaker.name"]?.description == "payment" })
        #expect(transitions.first?.metadata["breaker.failure.rate"]?.description == "100.0")
        #expect(transitions.first?.metadata["breaker.slow.rate"]?.description == "100.0")
        #expect(transitions.first?.metadata["breaker.calls"]?.description == "2")
    }

    /// The value of one series in the registry's Prometheus text, or nil when it is not there.
    static func value(of series: String, in registry: PrometheusCollectorRegistry) -> Double? {
        registry.emitToString().split(separator: "\n").lazy
            .filter { $0.hasPrefix(series + " ") }
            .compactMap { Double($0.dropFirst(series.count + 1)) }
            .first
    }
}

@Suite struct CircuitBreakerPolicyTests {
    @Test func theSettingsAreReadUnderTheirPrefix() {
        let logs = LogCapture()
        let policy = CircuitBreakerPolicy.fromEnvironment(
            [
                "PAYMENT_BREAKER_WINDOW_SIZE": "30", "PAYMENT_BREAKER_MINIMUM_CALLS": "5", "PAYMENT_BREAKER_FAILURE_RATE_PERCENT": "40",
                "PAYMENT_BREAKER_SLOW_CALL_RATE_PERCENT": "90", "PAYMENT_BREAKER_SLOW_CALL_MS": "1500",
                "PAYMENT_BREAKER_OPEN_SECONDS": "7", "PAYMENT_BREAKER_HALF_OPEN_CALLS": "2",
                "OTHER_BREAKER_WINDOW_SIZE": "99",
            ],
            prefix: "PAYMENT_BREAKER_", logger: logs.logger(label: "test")
        )
        #expect(
            policy
                == CircuitBreakerPolicy(
                    windowSize: 30, minimumCalls: 5, failureRatePercent: 40, slowCallRatePercent: 90, slowCallDuration: .milliseconds(1500),
                    openDuration: .seconds(7), halfOpenCalls: 2))
        #expect(logs.records.isEmpty)
    }

    @Test func absentSettingsKeepTheDefaults() {
        let policy = CircuitBreakerPolicy.fromEnvironment([:], prefix: "PAYMENT_BREAKER_", logger: Logger(label: "test"))
        #expect(policy == CircuitBreakerPolicy())
        #expect(policy.windowSize == 20 && policy.minimumCalls == 10 && policy.failureRatePercent == 50)
        #expect(policy.slowCallRatePercent == 80 && policy.slowCallDuration == .seconds(2))
        #expect(policy.openDuration == .seconds(10) && policy.halfOpenCalls == 3)
    }

    /// A value that cannot be used keeps the default and says so, naming the variable.
    @Test(arguments: [
        ("WINDOW_SIZE", "0"), ("WINDOW_SIZE", "twenty"), ("MINIMUM_CALLS", "-1"), ("FAILURE_RATE_PERCENT", "101"),
        ("SLOW_CALL_RATE_PERCENT", "0"), ("SLOW_CALL_MS", "2s"), ("OPEN_SECONDS", ""), ("HALF_OPEN_CALLS", "1.5"),
    ])
    func unusableSettingsKeepTheDefaultWithAWarning(suffix: String, value: String) {
        let logs = LogCapture()
        let policy = CircuitBreakerPolicy.fromEnvironment(
            ["PAYMENT_BREAKER_" + suffix: value], prefix: "PAYMENT_BREAKER_", logger: logs.logger(label: "test"))
        #expect(policy == CircuitBreakerPolicy())
        let warnings = logs.records.filter { $0.level == .warning }
        #expect(warnings.count == 1)
        #expect(warnings.first?.metadata["setting.name"]?.description == "PAYMENT_BREAKER_" + suffix)
        #expect(warnings.first?.metadata["setting.value"]?.description == value)
    }
}

/// Keeps every record logged through its logger, for tests that assert on logs.
final class LogCapture: Sendable {
    struct Record: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: Logger.Metadata
    }

    private let storage = Mutex<[Record]>([])

    var records: [Record] { storage.withLock { $0 } }

    func logger(label: String) -> Logger {
        var logger = Logger(label: label) { _ in CapturingLogHandler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    fileprivate func append(_ record: Record) {
        storage.withLock { $0.append(record) }
    }
}

private struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        capture.append(.init(level: event.level, message: "\(event.message)", metadata: merged))
    }
}
