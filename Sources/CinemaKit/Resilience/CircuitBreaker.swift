public import Logging
public import Metrics
import Synchronization

/// A circuit breaker for calls to one dependency, shared by every task that makes them: the rules
/// of `CircuitBreakerStateMachine` under a mutex, and what the rest of the system sees of them.
/// The lock only decides; the transitions it returns are logged and counted after it is released.
///
/// Visible as:
/// - `cinema_circuit_breaker_state{breaker="<name>"}`: 0 closed, 1 half-open, 2 open;
/// - `cinema_circuit_breaker_rejected_calls_total{breaker=}`: calls refused at once;
/// - `cinema_circuit_breaker_transitions_total{breaker=,from=,to=}`;
/// - a log line on every transition (warning when it opens, notice otherwise) with `breaker.name`,
///   `breaker.from`, `breaker.to` and, when a window decided, `breaker.failure.rate`,
///   `breaker.slow.rate` (percent) and `breaker.calls`.
///
/// Time is passed in (`now`), so tests drive it without sleeping.
public final class CircuitBreaker: Sendable {
    public typealias State = CircuitBreakerStateMachine.State
    public typealias Permit = CircuitBreakerStateMachine.Permit
    public typealias Decision = CircuitBreakerStateMachine.Decision
    public typealias Outcome = CircuitBreakerStateMachine.Outcome
    public typealias Transition = CircuitBreakerStateMachine.Transition

    private struct Guarded {
        var machine: CircuitBreakerStateMachine
        /// Transitions made but not yet logged and counted, oldest first, and whether a caller is
        /// announcing them: one announcer at a time keeps the log and the gauge in the machine's
        /// order even when two callers each make a transition.
        var unannounced: [Transition] = []
        var isAnnouncing = false
    }

    private struct TransitionKey: Hashable {
        var from: State
        var to: State
    }

    public let name: String
    public let policy: CircuitBreakerPolicy
    private let guarded: Mutex<Guarded>
    private let logger: Logger
    private let stateGauge: Gauge
    private let rejectedCalls: Counter
    private let transitionCounters: [TransitionKey: Counter]

    /// `metricsFactory` defaults to the process's (`MetricsSystem.factory`); tests pass their own.
    public init(name: String, policy: CircuitBreakerPolicy, logger: Logger, metricsFactory: (any MetricsFactory)? = nil) {
        let factory = metricsFactory ?? MetricsSystem.factory
        self.name = name
        self.policy = policy
        self.guarded = Mutex(Guarded(machine: CircuitBreakerStateMachine(policy: policy)))
        self.logger = logger
        let breaker = [("breaker", name)]
        stateGauge = Gauge(label: "cinema_circuit_breaker_state", dimensions: breaker, factory: factory)
        rejectedCalls = Counter(label: "cinema_circuit_breaker_rejected_calls_total", dimensions: breaker, factory: factory)
        // Every possible transition is registered up front, so each series shows (at 0) before it first happens.
        let possible: [TransitionKey] = [
            .init(from: .closed, to: .open), .init(from: .open, to: .halfOpen),
            .init(from: .halfOpen, to: .open), .init(from: .halfOpen, to: .closed),
        ]
        var counters: [TransitionKey: Counter] = [:]
        for key in possible {
            counters[key] = Counter(
                label: "cinema_circuit_breaker_transitions_total",
                dimensions: breaker + [("from", key.from.metricLabel), ("to", key.to.metricLabel)], factory: factory
            )
        }
        transitionCounters = counters
        stateGauge.record(State.closed.gaugeValue)
    }

    /// Whether a call may be made now; a rejection is counted.
    public func acquirePermission(now: ContinuousClock.Instant = .now) -> Decision {
        let decision = step { $0.acquirePermission(at: now) }
        if case .rejected = decision { rejectedCalls.increment() }
        return decision
    }

    /// How a permitted call ended, at `now`.
    public func record(_ outcome: Outcome, of permit: Permit, now: ContinuousClock.Instant = .now) {
        step { machine in ((), machine.record(outcome, of: permit, at: now)) }
    }

    /// A permitted call that was not made after all.
    public func release(_ permit: Permit) {
        step { machine in
            machine.release(permit)
            return ((), nil)
        }
    }

    /// The state as of `now` (an open breaker whose wait is over shows, and becomes, half-open).
    public func state(now: ContinuousClock.Instant = .now) -> State {
        step { $0.observeState(at: now) }
    }

    /// One step of the machine under the lock; its transition, if any, announced after.
    private func step<Value: Sendable>(_ body: (inout CircuitBreakerStateMachine) -> (Value, Transition?)) -> Value {
        let (value, announcer) = guarded.withLock { guarded -> (Value, Bool) in
            let (value, transition) = body(&guarded.machine)
            if let transition { guarded.unannounced.append(transition) }
            guard !guarded.isAnnouncing, !guarded.unannounced.isEmpty else { return (value, false) }
            guarded.isAnnouncing = true
            return (value, true)
        }
        if announcer { announceUnannounced() }
        return value
    }

    /// Announces transitions until none is left, taking them from under the lock in batches.
    private func announceUnannounced() {
        while true {
            let batch = guarded.withLock { guarded -> [Transition] in
                let batch = guarded.unannounced
                guarded.unannounced = []
                if batch.isEmpty { guarded.isAnnouncing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            batch.forEach(announce)
        }
    }

    private func announce(_ transition: Transition) {
        stateGauge.record(transition.to.gaugeValue)
        transitionCounters[TransitionKey(from: transition.from, to: transition.to)]?.increment()
        var metadata: Logger.Metadata = [
            "breaker.name": "\(name)", "breaker.from": "\(transition.from.rawValue)", "breaker.to": "\(transition.to.rawValue)",
        ]
        if let failureRate = transition.failureRatePercent, let slowRate = transition.slowCallRatePercent {
            metadata["breaker.failure.rate"] = "\(failureRate.roundedToTenths)"
            metadata["breaker.slow.rate"] = "\(slowRate.roundedToTenths)"
            metadata["breaker.calls"] = "\(transition.calls)"
        }
        switch transition.to {
        case .open:
            metadata["breaker.open.seconds"] = "\(Double(policy.openDuration.milliseconds) / 1000)"
            logger.warning("circuit breaker opened: calls are rejected at once until it half-opens", metadata: metadata)
        case .halfOpen:
            metadata["breaker.trial.calls"] = "\(policy.halfOpenCalls)"
            logger.notice("circuit breaker half-open: trial calls go through", metadata: metadata)
        case .closed:
            logger.notice("circuit breaker closed: calls go through again", metadata: metadata)
        }
    }
}

extension CircuitBreakerStateMachine.State {
    /// The state as a Prometheus label value: `closed`, `half_open`, `open`.
    var metricLabel: String { rawValue.lowercased() }
}

extension Double {
    /// Rounded to one decimal, for log lines (`33.3`, not `33.333333333333336`).
    fileprivate var roundedToTenths: Double { (self * 10).rounded() / 10 }
}
