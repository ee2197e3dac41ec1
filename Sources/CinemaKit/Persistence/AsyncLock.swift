import Synchronization

/// A FIFO lock for async code: holders may suspend while holding it. With `permits` above one, that
/// many hold it at once (a semaphore: the SQLite store's reader connections).
///
/// SQLite has one writer and our store shares one connection, so a transaction's statements must
/// not interleave with another task's; an actor would not do, because it is reentrant at every
/// `await`. The state machine under the mutex only decides; resuming happens outside it.
final class AsyncLock: Sendable {
    private struct State {
        /// Permits nobody holds.
        var available: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextWaiterID: UInt64 = 0
        /// Waiters that decided to wait but have not queued their continuation yet.
        var arriving: Set<UInt64> = []
        /// Those of them cancelled in that gap: they must not queue (nobody would cancel them
        /// again), but fail as soon as they arrive.
        var cancelledOnArrival: Set<UInt64> = []
    }

    /// What a waiter does once its continuation exists.
    private enum Arrival {
        case takeTheLock
        case cancelled
        case wait
    }

    private let state: Mutex<State>

    init(permits: Int = 1) {
        state = Mutex(State(available: max(1, permits)))
    }

    func withLock<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        try await acquire()
        do {
            let result = try await body()
            release()
            return result
        } catch {
            release()
            throw error
        }
    }

    /// Runs `body` holding every permit: once all holders before it are done, and before any after it.
    func withAllPermits<Result: Sendable>(_ permits: Int, _ body: () async throws -> Result) async throws -> Result {
        var held = 0
        defer { for _ in 0..<held { release() } }
        for _ in 0..<permits {
            try await acquire()
            held += 1
        }
        return try await body()
    }

    private func acquire() async throws {
        let waiterID = state.withLock { state -> UInt64? in
            if state.available > 0 {
                state.available -= 1
                return nil
            }
            state.nextWaiterID += 1
            state.arriving.insert(state.nextWaiterID)
            return state.nextWaiterID
        }
        guard let waiterID else { return }
        // A task cancelled before this point runs `onCancel` at once, before the operation has
        // queued anything: `arriving` and `cancelledOnArrival` carry that over.
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let arrival = state.withLock { state -> Arrival in
                    state.arriving.remove(waiterID)
                    if state.cancelledOnArrival.remove(waiterID) != nil { return .cancelled }
                    // Released between deciding to wait and getting here.
                    if state.available > 0 {
                        state.available -= 1
                        return .takeTheLock
                    }
                    state.waiters.append((waiterID, continuation))
                    return .wait
                }
                switch arrival {
                case .takeTheLock: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                if state.arriving.contains(waiterID) {
                    state.cancelledOnArrival.insert(waiterID)
                    return nil
                }
                // Not queued any more: it holds a permit already, and keeps it.
                guard let index = state.waiters.firstIndex(where: { $0.id == waiterID }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    /// How many tasks wait in the queue (tests and diagnostics).
    var queuedWaiters: Int {
        state.withLock { $0.waiters.count }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            // The permit passes straight to the next waiter.
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
