/// The bookkeeping of one upstream's load shedding: how many requests are in flight, who waits for a slot, and
/// whether the upstream is shedding right now. A value type that only decides: ``UpstreamLimiter`` keeps it under a
/// mutex and carries out what each call returns (resume a waiter, count, log) after the lock is released.
///
/// Generic over the waiter so that the rules can be tested with plain values instead of continuations.
///
/// Invariants: `inFlight <= maxConcurrent`, `queued <= maxQueued`, and a request only waits while every slot is
/// taken (a waiter with a free slot would wait for nothing).
struct AdmissionQueue<Waiter> {
    let maxConcurrent: Int
    let maxQueued: Int
    /// Requests holding a slot (a permit) of this upstream.
    private(set) var inFlight = 0
    /// Oldest first: slots are handed out in arrival order.
    private var waiters: [(id: UInt64, waiter: Waiter)] = []
    private var lastWaiterID: UInt64 = 0
    /// Requests refused since shedding started; `nil` while the upstream is not shedding.
    private(set) var shedInEpisode: Int?

    init(maxConcurrent: Int, maxQueued: Int) {
        // Zero slots would refuse everything forever; the configuration never passes it, tests might.
        self.maxConcurrent = max(1, maxConcurrent)
        self.maxQueued = max(0, maxQueued)
    }

    var queued: Int { self.waiters.count }
    var isShedding: Bool { self.shedInEpisode != nil }

    enum Arrival: Equatable {
        /// A slot is taken for the caller.
        case admitted
        /// Every slot is taken but the queue has room: the caller must ``enqueue(_:isCancelled:)``.
        case mustWait
        /// Every slot and queue place is taken. `startsShedding` is true for the first refusal of an episode.
        case rejected(startsShedding: Bool)
    }

    /// A request arrives. Waiters go first: a newcomer never overtakes them, even when a slot just came free.
    mutating func arrive() -> Arrival {
        if self.inFlight < self.maxConcurrent && self.waiters.isEmpty {
            self.inFlight += 1
            return .admitted
        }
        if self.waiters.count >= self.maxQueued {
            return .rejected(startsShedding: self.countShed())
        }
        return .mustWait
    }

    enum Enqueueing: Equatable {
        /// The waiter is queued under `id`; it is resumed by ``release()`` or ``remove(id:timedOut:)``.
        case waiting(id: UInt64)
        /// A slot came free between ``arrive()`` and now: the caller holds it and is not queued.
        case admitted
        /// The queue filled up between ``arrive()`` and now.
        case rejected(startsShedding: Bool)
        /// The caller's task was cancelled before it could be queued; nothing is held.
        case cancelled
    }

    /// Queues a waiter after ``arrive()`` said `mustWait`. The state may have changed since (the lock was let go in
    /// between), so the arrival is decided again. `isCancelled` must be read under the same lock: a cancellation
    /// handler that ran before this call found nothing to remove, and this is where such a waiter is turned away.
    mutating func enqueue(_ waiter: Waiter, isCancelled: Bool) -> Enqueueing {
        if isCancelled { return .cancelled }
        switch self.arrive() {
        case .admitted:
            return .admitted
        case .rejected(let startsShedding):
            return .rejected(startsShedding: startsShedding)
        case .mustWait:
            self.lastWaiterID += 1
            self.waiters.append((self.lastWaiterID, waiter))
            return .waiting(id: self.lastWaiterID)
        }
    }

    enum Release {
        /// The slot passes straight to this waiter, which must be resumed as admitted; `inFlight` is unchanged.
        case handOver(Waiter)
        /// The slot is free again. `endedShedding` is the number of requests refused in the episode that ended now.
        case freed(endedShedding: Int?)
    }

    /// A request holding a slot is done with the upstream.
    mutating func release() -> Release {
        precondition(self.inFlight > 0, "a slot was released that was never taken")
        if !self.waiters.isEmpty {
            return .handOver(self.waiters.removeFirst().waiter)
        }
        self.inFlight -= 1
        // A free slot and nobody waiting: the upstream keeps up again.
        let ended = self.shedInEpisode
        self.shedInEpisode = nil
        return .freed(endedShedding: ended)
    }

    struct Removal {
        var waiter: Waiter
        /// Set when a timed-out waiter is the first refusal of an episode.
        var startsShedding: Bool
    }

    /// Takes a waiter out of the queue because its wait timed out (counted as shed) or its client is gone (not
    /// counted). `nil` when it is no longer queued: it was handed a slot or removed already, and must not be resumed
    /// again.
    mutating func remove(id: UInt64, timedOut: Bool) -> Removal? {
        guard let index = self.waiters.firstIndex(where: { $0.id == id }) else { return nil }
        let waiter = self.waiters.remove(at: index).waiter
        return Removal(waiter: waiter, startsShedding: timedOut ? self.countShed() : false)
    }

    /// Counts one refusal; true when it starts an episode.
    private mutating func countShed() -> Bool {
        guard let count = self.shedInEpisode else {
            self.shedInEpisode = 1
            return true
        }
        self.shedInEpisode = count + 1
        return false
    }
}
