/// The bookkeeping of one upstream's instances (replicas): which are up, how many requests each has in flight, and
/// which one the next request goes to. A value type that only decides: ``UpstreamBalancer`` keeps it under a mutex and
/// carries out what each call returns (log, move a gauge) after the lock is released. Time is passed in, so that tests
/// can move it at will.
///
/// The rules:
/// - A request goes to the instance with the fewest requests in flight; ties go round-robin, starting after the
///   instance chosen last. Idle, that is plain round-robin; under load, an instance that answers slowly (or not at
///   all, as a frozen process) collects in-flight requests and is passed over until it catches up, where round-robin
///   would keep handing it its share.
/// - An instance that refuses a connection is down: it is skipped for `retryInterval`. After that, one request probes
///   it (the others keep skipping it); a probe that gets through brings it back, one that is refused starts another
///   period.
/// - Only a probe brings an instance back. A request that was already on its way when the instance went down may
///   still be answered over a connection opened before; that says nothing about whether new connections get through.
/// - With a single instance there is nowhere else to send a request: it is never skipped, every request to it while
///   it is down is a probe. The route behaves as it did before balancing existed; only the log and gauge are added.
///
/// Invariants: `inFlight` of an instance counts the choices not yet ended by ``refused(_:now:)`` or
/// ``released(_:connected:now:)``; at most one probe is in flight per instance when there are several.
struct BalancerState {
    typealias Instant = ContinuousClock.Instant

    enum Health: Equatable {
        case up
        /// Refused a connection; skipped until `retryAt`. `since` is when it went down.
        case down(since: Instant, retryAt: Instant)
        /// The down period is over and a probe is in flight.
        case probing(since: Instant)
    }

    struct Instance: Equatable {
        var health: Health = .up
        var inFlight = 0
    }

    /// What a request was given: the instance to send it to, and whether it probes a down instance.
    struct Choice: Equatable, Hashable {
        var index: Int
        var isProbe: Bool
    }

    /// A change of an instance's health that is worth a log line and a gauge move.
    enum Transition: Equatable {
        case markedDown
        /// Back after having been down for `after`.
        case backUp(after: Duration)
    }

    let retryInterval: Duration
    private(set) var instances: [Instance]
    /// Where the search for the next instance starts: just after the one chosen last.
    private var cursor = 0

    init(instanceCount: Int, retryInterval: Duration) {
        self.instances = Array(repeating: Instance(), count: max(0, instanceCount))
        self.retryInterval = retryInterval
    }

    /// The instance for the next attempt of a request, or `nil` when every instance it has not tried yet is down.
    /// `tried` holds the instances this request was refused by already.
    mutating func choose(now: Instant, excluding tried: Set<Int> = []) -> Choice? {
        let count = self.instances.count
        var best: Choice?
        var bestInFlight = Int.max
        for offset in 0..<count {
            let index = (self.cursor + offset) % count
            guard !tried.contains(index) else { continue }
            let candidate = self.instances[index]
            let isProbe: Bool
            switch candidate.health {
            case .up:
                isProbe = false
            case .down(_, let retryAt):
                guard count == 1 || now >= retryAt else { continue }
                isProbe = true
            case .probing:
                // One probe at a time: until it is back, the others go elsewhere.
                guard count == 1 else { continue }
                isProbe = true
            }
            // Strictly fewer: on a tie the first in round-robin order stays.
            if candidate.inFlight < bestInFlight {
                best = Choice(index: index, isProbe: isProbe)
                bestInFlight = candidate.inFlight
            }
        }
        guard let best else { return nil }
        self.instances[best.index].inFlight += 1
        if best.isProbe, case .down(let since, _) = self.instances[best.index].health {
            self.instances[best.index].health = .probing(since: since)
        }
        self.cursor = (best.index + 1) % count
        return best
    }

    /// The attempt reached the instance (it answered, or failed after connecting). The request stays in flight until
    /// ``released(_:connected:now:)``.
    mutating func connected(_ choice: Choice, now: Instant) -> Transition? {
        guard choice.isProbe else { return nil }
        switch self.instances[choice.index].health {
        case .up:
            return nil
        case .down(let since, _), .probing(let since):
            self.instances[choice.index].health = .up
            return .backUp(after: now - since)
        }
    }

    /// The instance refused the connection (or did not accept it in time): nothing was sent. Ends the attempt.
    mutating func refused(_ choice: Choice, now: Instant) -> Transition? {
        self.endAttempt(choice)
        switch self.instances[choice.index].health {
        case .up:
            self.instances[choice.index].health = .down(since: now, retryAt: now + self.retryInterval)
            return .markedDown
        case .probing(let since) where choice.isProbe:
            self.instances[choice.index].health = .down(since: since, retryAt: now + self.retryInterval)
            return nil
        case .down(let since, _) where choice.isProbe:
            // Only with a single instance, whose probes may overlap: the latest refusal counts.
            self.instances[choice.index].health = .down(since: since, retryAt: now + self.retryInterval)
            return nil
        case .down, .probing:
            // A request chosen before the instance went down; it is known to be down already.
            return nil
        }
    }

    /// The attempt is over: its answer was passed on, or it failed otherwise than by a refused connection.
    /// `connected` tells whether ``connected(_:now:)`` was called for it. A probe that ended before its outcome was
    /// known (its client left, the pool had no connection for it in time) proves nothing either way: the next
    /// request probes again.
    mutating func released(_ choice: Choice, connected: Bool, now: Instant) {
        self.endAttempt(choice)
        if !connected, choice.isProbe, case .probing(let since) = self.instances[choice.index].health {
            self.instances[choice.index].health = .down(since: since, retryAt: now)
        }
    }

    private mutating func endAttempt(_ choice: Choice) {
        precondition(self.instances[choice.index].inFlight > 0, "an attempt ended that was never chosen")
        self.instances[choice.index].inFlight -= 1
    }
}
