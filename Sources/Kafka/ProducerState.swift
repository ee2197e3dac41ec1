import Synchronization

/// What a `KafkaProducer` shares between `send()`, its poll loop and librdkafka's callbacks: the
/// lifecycle, the current librdkafka handle and its generation, the health verdict on that handle,
/// and the table from the per-message id we hand librdkafka (as the message opaque) to whoever
/// waits for that message's delivery report. One lock, because several decisions need more than
/// one of these at once: a message is registered against the handle it will be produced on, and
/// never once shutdown has begun; a replaced handle's messages can be told from the new one's.
///
/// Decisions only: the methods return what to do, callers do it (no librdkafka call, no logging
/// and no promise fulfilled under the lock).
final class ProducerState: Sendable {
    enum Lifecycle { case idle, running, shuttingDown, finished }

    enum Registration {
        /// Produce the message on `handle` with opaque `id`.
        case registered(id: UInt, handle: RDKafkaHandle, generation: Int)
        /// The current handle is unusable and about to be replaced: try again shortly.
        case awaitingReplacement
        /// The current handle has been unusable for longer than a replacement should take.
        case stillUnusable
        /// The message was to go out on handle generation `pinned`, which is gone or going.
        case handleReplaced
        case shutDown
    }

    enum PollStep {
        case poll(RDKafkaHandle)
        /// Create a new handle and retire generation `generation`, which is unusable because `reason`.
        case replace(generation: Int, reason: String)
        case stop
    }

    private enum Replacement {
        case notNeeded
        case requested(reason: String)
        case inProgress
        case retry(at: ContinuousClock.Instant, reason: String)
    }

    private struct Pending {
        let waiter: DeliveryWaiter
        let generation: Int
    }

    private struct State {
        var lifecycle = Lifecycle.idle
        var nextID: UInt = 1  // never 0: a null opaque would be indistinguishable from "none"
        var pending: [UInt: Pending] = [:]
        /// nil only while `KafkaProducer.init` creates the first handle, which needs this object
        /// for its callbacks; nothing can send before init has returned.
        var handle: RDKafkaHandle?
        var generation = 0
        var health: ProducerHandleHealth
        var replacement = Replacement.notNeeded
        /// When the current handle was found unusable; nil while it is fine.
        var unusableSince: ContinuousClock.Instant?

        var isReplacing: Bool {
            if case .notNeeded = replacement { return false }
            return true
        }

        /// Only the first verdict against the current generation counts.
        mutating func condemn(generation reported: Int, reason: String?, at now: ContinuousClock.Instant) {
            guard let reason, reported == generation, !isReplacing else { return }
            replacement = .requested(reason: reason)
            unusableSince = now
        }
    }

    private let state: Mutex<State>
    /// A send waits this long at most for an unusable handle to be replaced, then fails (retriable):
    /// a replacement normally takes milliseconds, and a send must not wait for ever if creating
    /// one keeps failing.
    private let longestWaitForReplacement: Duration = .seconds(5)

    init(healthPolicy: ProducerHandleHealth.Policy = .init()) {
        state = Mutex(State(health: ProducerHandleHealth(policy: healthPolicy)))
    }

    var lifecycle: Lifecycle { state.withLock { $0.lifecycle } }
    var pendingCount: Int { state.withLock { $0.pending.count } }
    var generation: Int { state.withLock { $0.generation } }
    var currentHandle: RDKafkaHandle? { state.withLock { $0.handle } }

    /// `pinned`: the generation the caller's earlier messages went out on (`send(inOrder:)`), so
    /// that a batch never spans two handles, which could reorder it.
    func register(_ waiter: DeliveryWaiter, pinnedTo pinned: Int?) -> Registration {
        state.withLock { state in
            switch state.lifecycle {
            case .shuttingDown, .finished: return .shutDown
            case .idle, .running: break
            }
            if let pinned, pinned != state.generation || state.isReplacing { return .handleReplaced }
            guard let handle = state.handle, !state.isReplacing else {
                // The clock is read only here, off the path every message takes.
                if let since = state.unusableSince, ContinuousClock.now - since > longestWaitForReplacement { return .stillUnusable }
                return .awaitingReplacement
            }
            let id = state.nextID
            state.nextID &+= 1
            if state.nextID == 0 { state.nextID = 1 }
            state.pending[id] = Pending(waiter: waiter, generation: state.generation)
            return .registered(id: id, handle: handle, generation: state.generation)
        }
    }

    /// For a message librdkafka refused to take: nobody will report on it.
    func unregister(id: UInt) {
        _ = state.withLock { $0.pending.removeValue(forKey: id) }
    }

    /// A delivery report from handle `generation`. Whoever removes the promise fulfils it, which
    /// makes every send resolve exactly once even when a report and a drain race.
    /// The clock is read only for a failure (the health verdict's time), not for every acknowledged message.
    func resolve(id: UInt, with result: Result<KafkaDeliveryReport, KafkaError>, generation: Int) {
        let waiter = state.withLock { state in
            if generation == state.generation {
                switch result {
                case .success: state.health.deliveryAcknowledged()
                case .failure(let error):
                    let now = ContinuousClock.now
                    let verdict = state.health.deliveryFailed(error.code, at: now)
                    state.condemn(generation: generation, reason: verdict, at: now)
                }
            }
            return state.pending.removeValue(forKey: id)?.waiter
        }
        waiter?.fulfil(result.mapError { $0 as any Error })
    }

    /// librdkafka raised a fatal error on handle `generation`, or refused a message as fatal.
    func reportUnusable(generation: Int, reason: String, at now: ContinuousClock.Instant) {
        state.withLock { $0.condemn(generation: generation, reason: reason, at: now) }
    }

    /// librdkafka reported every broker of handle `generation` down.
    func allBrokersDown(generation: Int, at now: ContinuousClock.Instant) {
        state.withLock { state in
            guard generation == state.generation else { return }
            state.condemn(generation: generation, reason: state.health.allBrokersDown(), at: now)
        }
    }

    func statisticsReported(producerEpoch: Int, generation: Int, at now: ContinuousClock.Instant) {
        state.withLock { state in
            guard generation == state.generation else { return }
            let verdict = state.health.statisticsReported(producerEpoch: producerEpoch)
            state.condemn(generation: generation, reason: verdict, at: now)
        }
    }

    /// What the poll loop does next.
    func nextPollStep(at now: ContinuousClock.Instant) -> PollStep {
        state.withLock { state in
            guard state.lifecycle == .running else { return .stop }
            switch state.replacement {
            case .requested(let reason):
                state.replacement = .inProgress
                return .replace(generation: state.generation, reason: reason)
            case .retry(let at, let reason) where now >= at:
                state.replacement = .inProgress
                return .replace(generation: state.generation, reason: reason)
            case .notNeeded, .inProgress, .retry:
                guard let handle = state.handle else {
                    state.replacement = .inProgress
                    return .replace(generation: state.generation, reason: "no librdkafka handle")
                }
                return .poll(handle)
            }
        }
    }

    /// Makes `handle` the current one and returns the one it replaces, if any. From here on new
    /// messages go to `handle`; the old one's pending messages keep their generation.
    func install(_ handle: RDKafkaHandle) -> RDKafkaHandle? {
        state.withLock { state in
            let retired = state.handle
            if retired != nil { state.generation += 1 }
            state.handle = handle
            state.health = ProducerHandleHealth(policy: state.health.policy)
            state.replacement = .notNeeded
            state.unusableSince = nil
            return retired
        }
    }

    /// Creating the new handle failed: the poll loop tries again at `at`.
    func replacementFailed(retryAt at: ContinuousClock.Instant, reason: String) {
        state.withLock { $0.replacement = .retry(at: at, reason: reason) }
    }

    func pendingCount(ofGeneration generation: Int) -> Int {
        state.withLock { state in state.pending.values.count { $0.generation == generation } }
    }

    /// Hands over the messages of a retired handle that are still unresolved, for the caller to
    /// fail: nothing will report on them any more.
    func takePending(ofGeneration generation: Int) -> [DeliveryWaiter] {
        state.withLock { state in
            let stranded = state.pending.filter { $0.value.generation == generation }
            for id in stranded.keys { state.pending[id] = nil }
            return stranded.values.map(\.waiter)
        }
    }

    func start() -> Bool {
        state.withLock { state in
            guard state.lifecycle == .idle else { return false }
            state.lifecycle = .running
            return true
        }
    }

    func beginShutdown() {
        state.withLock { state in
            if state.lifecycle == .idle || state.lifecycle == .running { state.lifecycle = .shuttingDown }
        }
    }

    /// Ends the producer's life and hands over whatever is still unresolved, for the caller to fail.
    func finish() -> [DeliveryWaiter] {
        state.withLock { state in
            state.lifecycle = .finished
            defer { state.pending = [:] }
            return state.pending.values.map(\.waiter)
        }
    }
}
