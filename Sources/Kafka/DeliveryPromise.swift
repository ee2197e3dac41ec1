import Synchronization

/// One message's delivery report, to be awaited after enqueueing: so a batch can be enqueued in
/// order first (which fixes its order on the topic) and awaited as a whole afterwards.
final class DeliveryPromise: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<KafkaDeliveryReport, any Error>)
        case done(Result<KafkaDeliveryReport, any Error>)
    }

    private let state = Mutex(State.pending)

    /// The first result wins; later ones (a report racing a cancellation) are dropped.
    func fulfil(_ result: Result<KafkaDeliveryReport, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<KafkaDeliveryReport, any Error>? in
            switch state {
            case .pending:
                state = .done(result)
                return nil
            case .waiting(let continuation):
                state = .done(result)
                return continuation
            case .done:
                return nil
            }
        }
        waiter?.resume(with: result)
    }

    /// Cancelling the waiting task stops the wait with `CancellationError`. The message itself
    /// cannot be recalled: it may still be delivered, which at-least-once callers (the outbox relay
    /// re-sends what it has not seen acknowledged) must tolerate.
    var report: KafkaDeliveryReport {
        get async throws {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let ready = state.withLock { state -> Result<KafkaDeliveryReport, any Error>? in
                        switch state {
                        case .pending:
                            state = .waiting(continuation)
                            return nil
                        case .done(let result):
                            return result
                        case .waiting:
                            preconditionFailure("a delivery is awaited once")
                        }
                    }
                    if let ready { continuation.resume(with: ready) }
                }
            } onCancel: {
                fulfil(.failure(CancellationError()))
            }
        }
    }
}
