import Synchronization

/// Lets one waiting loop sleep until either a deadline passes or someone says there is work.
/// A notification that arrives while nobody waits is remembered, so no work is missed.
final class Wakeup: Sendable {
    private struct State {
        var isPending = false
        var sleeper: Task<Void, Never>?
    }

    private let state = Mutex(State())

    func notify() {
        let sleeper = state.withLock { state -> Task<Void, Never>? in
            state.isPending = true
            return state.sleeper
        }
        sleeper?.cancel()
    }

    /// Returns after `timeout`, or sooner when notified (also for a notification before the call).
    func wait(timeout: Duration) async {
        let sleeper = Task<Void, Never> { _ = try? await Task.sleep(for: timeout) }
        let alreadyNotified = state.withLock { state -> Bool in
            if state.isPending {
                state.isPending = false
                return true
            }
            state.sleeper = sleeper
            return false
        }
        if alreadyNotified { sleeper.cancel() }
        await withTaskCancellationHandler {
            await sleeper.value
        } onCancel: {
            sleeper.cancel()
        }
        state.withLock { state in
            state.sleeper = nil
            state.isPending = false
        }
    }
}
