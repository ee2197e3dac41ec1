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

/// The delivery reports of a batch sent in order (`send(inOrder:)`), awaited together: one continuation for the
/// batch instead of a promise and a suspension per message, which at a few hundred thousand messages a second was a
/// visible share of the producer's time (perf/README.md).
final class BatchDelivery: Sendable {
    private struct State {
        var results: [Result<KafkaDeliveryReport, any Error>?]
        var outstanding: Int
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(results: Array(repeating: nil, count: count), outstanding: count))
    }

    /// The first result for a slot wins; later ones (a report racing a cancellation) are dropped.
    func fulfil(_ index: Int, _ result: Result<KafkaDeliveryReport, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.results[index] == nil else { return nil }
            state.results[index] = result
            state.outstanding -= 1
            guard state.outstanding == 0 else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Every slot's result, once each has one. Cancelling the waiting task fails the slots still open with
    /// `CancellationError` (their messages may still be delivered).
    var results: [Result<KafkaDeliveryReport, any Error>] {
        get async {
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { state -> Bool in
                        guard state.outstanding > 0 else { return true }
                        state.waiter = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                let open = state.withLock { state in state.results.indices.filter { state.results[$0] == nil } }
                for index in open { fulfil(index, .failure(CancellationError())) }
            }
            return state.withLock { state in state.results.map { $0 ?? .failure(CancellationError()) } }
        }
    }
}

/// Who waits for one message's delivery report: its own promise, or its slot in a batch.
enum DeliveryWaiter: Sendable {
    case message(DeliveryPromise)
    case batch(BatchDelivery, index: Int)

    func fulfil(_ result: Result<KafkaDeliveryReport, any Error>) {
        switch self {
        case .message(let promise): promise.fulfil(result)
        case .batch(let batch, let index): batch.fulfil(index, result)
        }
    }
}
