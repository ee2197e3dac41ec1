import Synchronization

/// A FIFO lock for async code: holders may suspend while holding it.
///
/// SQLite has one writer and our store shares one connection, so a transaction's statements must
/// not interleave with another task's; an actor would not do, because it is reentrant at every
/// `await`. The state machine under the mutex only decides; resuming happens outside it.
final class AsyncLock: Sendable {
    private struct State {
        var isLocked = false
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextWaiterID: UInt64 = 0
    }

    private let state = Mutex(State())

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

    private func acquire() async throws {
        let waiterID = state.withLock { state -> UInt64? in
            if !state.isLocked {
                state.isLocked = true
                return nil
            }
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        guard let waiterID else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeAtOnce = state.withLock { state -> Bool in
                    // Released or cancelled between deciding to wait and getting here.
                    if !state.isLocked {
                        state.isLocked = true
                        return true
                    }
                    state.waiters.append((waiterID, continuation))
                    return false
                }
                if resumeAtOnce { continuation.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == waiterID }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.isLocked = false
                return nil
            }
            // Ownership passes straight to the next waiter; the lock stays held.
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
