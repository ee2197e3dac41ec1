import Dispatch
import Synchronization

/// Answers "is at least one broker reachable?" without blocking the caller: a metadata request
/// with a short timeout on a private queue, whose answer is cached briefly so that frequent
/// health probes do not each cost a round trip, and concurrent callers share one request.
final class ConnectivityProbe: Sendable {
    private struct State {
        var lastAnswer: (connected: Bool, at: ContinuousClock.Instant)?
        /// Non-nil while a metadata request is in flight: whoever asks meanwhile waits for it.
        var waiters: [CheckedContinuation<Bool, Never>]?
    }

    private let state = Mutex(State())
    private let queue: DispatchQueue
    private let cacheFor: Duration = .seconds(1)
    private let timeout: Duration = .seconds(1)

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func isConnected(_ handle: RDKafkaHandle) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            enum Action {
                case answer(Bool)
                case wait, probe
            }
            let now = ContinuousClock.now
            // Decide under the lock; resume or start the request outside it.
            let action: Action = state.withLock { state in
                if let last = state.lastAnswer, now - last.at < cacheFor {
                    return .answer(last.connected)
                }
                if state.waiters != nil {
                    state.waiters?.append(continuation)
                    return .wait
                }
                state.waiters = [continuation]
                return .probe
            }
            switch action {
            case .answer(let connected):
                continuation.resume(returning: connected)
            case .wait:
                break
            case .probe:
                queue.async { [self, timeout] in
                    let connected = handle.answersMetadataRequest(timeout: timeout)
                    let waiters = state.withLock { state in
                        state.lastAnswer = (connected, .now)
                        defer { state.waiters = nil }
                        return state.waiters ?? []
                    }
                    for waiter in waiters { waiter.resume(returning: connected) }
                }
            }
        }
    }
}
