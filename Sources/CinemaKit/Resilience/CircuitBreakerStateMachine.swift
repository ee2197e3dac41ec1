/// A circuit breaker's rules and nothing else (the Resilience4j model): no clock, no lock, no
/// logging, no metrics. Every step takes the time it happens at and returns what it decided and
/// the transition it made, if any; `CircuitBreaker` keeps one under a mutex and announces the
/// transitions. Being a plain value, it is tested step by step with made-up instants.
///
/// - closed: every call is permitted; the outcomes of the last `windowSize` calls are kept, and
///   once `minimumCalls` are in, a failure rate or a slow-call rate at or over its threshold opens
///   the breaker.
/// - open: every call is rejected at once, for `openDuration`; then half-open.
/// - half-open: `halfOpenCalls` trial calls are permitted, the rest rejected; once all trials
///   ended, their rates decide: over a threshold opens again, otherwise closed (with an empty window).
public struct CircuitBreakerStateMachine: Sendable {
    public enum State: String, Sendable, CaseIterable {
        case closed = "CLOSED"
        case halfOpen = "HALF_OPEN"
        case open = "OPEN"

        /// The gauge's value: 0 closed, 1 half-open, 2 open (the higher, the sicker).
        public var gaugeValue: Int {
            switch self {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        }
    }

    /// Leave to make one call; hand it back with its outcome (`record`), or unused (`release`).
    public struct Permit: Sendable, Equatable {
        /// The transition count when it was given: an outcome from before the last transition
        /// judged a state that is gone and is not counted.
        let generation: UInt64
        let startedAt: ContinuousClock.Instant
    }

    public enum Decision: Sendable, Equatable {
        case permitted(Permit)
        /// Not permitted. `retryAfter` is what is left of the open wait; zero when half-open with
        /// every trial call under way.
        case rejected(retryAfter: Duration)
    }

    public enum Outcome: Sendable, Equatable {
        case success
        case failure
    }

    public struct Transition: Sendable, Equatable {
        public var from: State
        public var to: State
        /// The window that decided it (nil for the timed move from open to half-open): its
        /// failure and slow-call rates in percent and how many calls it held.
        public var failureRatePercent: Double?
        public var slowCallRatePercent: Double?
        public var calls: Int
    }

    private enum Phase: Sendable, Equatable {
        case closed
        case open(until: ContinuousClock.Instant)
        case halfOpen(trialsStarted: Int)
    }

    public let policy: CircuitBreakerPolicy
    private var phase = Phase.closed
    /// Closed: the last `windowSize` outcomes. Half-open: the trial outcomes so far.
    private var window: OutcomeWindow
    private var generation: UInt64 = 0

    public init(policy: CircuitBreakerPolicy) {
        self.policy = policy
        self.window = OutcomeWindow(capacity: policy.windowSize)
    }

    /// The state as of `now`, with the transition that looking made: an open breaker whose wait is
    /// over is half-open (the move happens when someone asks, not on a timer).
    public mutating func observeState(at now: ContinuousClock.Instant) -> (state: State, transition: Transition?) {
        let transition = halfOpenIfWaitIsOver(now)
        return (state, transition)
    }

    public var state: State {
        switch phase {
        case .closed: .closed
        case .open: .open
        case .halfOpen: .halfOpen
        }
    }

    /// Whether a call may be made now.
    public mutating func acquirePermission(at now: ContinuousClock.Instant) -> (decision: Decision, transition: Transition?) {
        let transition = halfOpenIfWaitIsOver(now)
        switch phase {
        case .closed:
            return (.permitted(Permit(generation: generation, startedAt: now)), transition)
        case .open(let until):
            return (.rejected(retryAfter: until - now), transition)
        case .halfOpen(let trialsStarted):
            guard trialsStarted < policy.halfOpenCalls else { return (.rejected(retryAfter: .zero), transition) }
            phase = .halfOpen(trialsStarted: trialsStarted + 1)
            return (.permitted(Permit(generation: generation, startedAt: now)), transition)
        }
    }

    /// The outcome of a permitted call that ended at `now`; slow if it took `slowCallDuration` or
    /// longer, whatever its outcome.
    public mutating func record(_ outcome: Outcome, of permit: Permit, at now: ContinuousClock.Instant) -> Transition? {
        guard permit.generation == generation else { return nil }
        window.add(failed: outcome == .failure, slow: now - permit.startedAt >= policy.slowCallDuration)
        switch phase {
        case .closed:
            guard window.count >= policy.callsBeforeJudging, exceedsAThreshold() else { return nil }
            return move(to: .open(until: now + policy.openDuration))
        case .halfOpen:
            guard window.count >= policy.halfOpenCalls else { return nil }
            return move(to: exceedsAThreshold() ? .open(until: now + policy.openDuration) : .closed)
        case .open:
            // No permit of the current generation is given while open.
            return nil
        }
    }

    /// A permitted call that was never made (the work before it failed): a half-open breaker may
    /// give its trial to another call.
    public mutating func release(_ permit: Permit) {
        guard permit.generation == generation, case .halfOpen(let trialsStarted) = phase else { return }
        phase = .halfOpen(trialsStarted: max(0, trialsStarted - 1))
    }

    private mutating func halfOpenIfWaitIsOver(_ now: ContinuousClock.Instant) -> Transition? {
        guard case .open(let until) = phase, now >= until else { return nil }
        return move(to: .halfOpen(trialsStarted: 0))
    }

    private func exceedsAThreshold() -> Bool {
        window.failures * 100 >= policy.failureRatePercent * window.count
            || window.slowCalls * 100 >= policy.slowCallRatePercent * window.count
    }

    private mutating func move(to next: Phase) -> Transition {
        let from = state
        let judged = window
        let timed = from == .open
        phase = next
        generation &+= 1
        if case .halfOpen = next {
            window = OutcomeWindow(capacity: policy.halfOpenCalls)
        } else {
            window = OutcomeWindow(capacity: policy.windowSize)
        }
        return Transition(
            from: from, to: state,
            failureRatePercent: timed ? nil : judged.failureRatePercent,
            slowCallRatePercent: timed ? nil : judged.slowCallRatePercent,
            calls: timed ? 0 : judged.count
        )
    }
}

/// The outcomes of the last `capacity` calls, oldest overwritten first, with running counts.
struct OutcomeWindow: Sendable, Equatable {
    private struct Entry: Sendable, Equatable {
        var failed: Bool
        var slow: Bool
    }

    let capacity: Int
    private var entries: [Entry] = []
    /// Where the next outcome goes once the window is full (the oldest one).
    private var oldest = 0
    private(set) var failures = 0
    private(set) var slowCalls = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        entries.reserveCapacity(self.capacity)
    }

    var count: Int { entries.count }

    mutating func add(failed: Bool, slow: Bool) {
        let entry = Entry(failed: failed, slow: slow)
        if entries.count < capacity {
            entries.append(entry)
        } else {
            let dropped = entries[oldest]
            failures -= dropped.failed ? 1 : 0
            slowCalls -= dropped.slow ? 1 : 0
            entries[oldest] = entry
            oldest = (oldest + 1) % capacity
        }
        failures += failed ? 1 : 0
        slowCalls += slow ? 1 : 0
    }

    var failureRatePercent: Double { count == 0 ? 0 : Double(failures) * 100 / Double(count) }
    var slowCallRatePercent: Double { count == 0 ? 0 : Double(slowCalls) * 100 / Double(count) }
}
