import Synchronization

/// Maps the per-message id we hand librdkafka as the message opaque to whoever waits for that
/// message's delivery report. Also holds the producer's lifecycle, because whether a new message
/// may still be registered and whether the table is drained must be decided atomically.
final class DeliveryTable: Sendable {
    enum Lifecycle { case idle, running, shuttingDown, finished }

    private struct State {
        var lifecycle = Lifecycle.idle
        var nextID: UInt = 1  // never 0: a null opaque would be indistinguishable from "none"
        var pending: [UInt: DeliveryPromise] = [:]
    }

    private let state = Mutex(State())

    var lifecycle: Lifecycle { state.withLock { $0.lifecycle } }
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Returns nil once shutdown has begun: the message must then not be produced at all.
    func register(_ promise: DeliveryPromise) -> UInt? {
        state.withLock { state in
            switch state.lifecycle {
            case .idle, .running:
                let id = state.nextID
                state.nextID &+= 1
                if state.nextID == 0 { state.nextID = 1 }
                state.pending[id] = promise
                return id
            case .shuttingDown, .finished:
                return nil
            }
        }
    }

    /// For a message librdkafka refused to take: nobody will report on it.
    func unregister(id: UInt) {
        _ = state.withLock { $0.pending.removeValue(forKey: id) }
    }

    /// Whoever removes the promise fulfils it, which makes every send resolve exactly once even
    /// when a delivery report and the shutdown drain race. The promise is fulfilled outside the
    /// lock: fulfilling resumes a waiter, which must not happen while holding it.
    func resolve(id: UInt, with result: Result<KafkaDeliveryReport, some Error>) {
        let promise = state.withLock { $0.pending.removeValue(forKey: id) }
        promise?.fulfil(result.mapError { $0 as any Error })
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

    /// Ends the table's life and hands over whatever is still unresolved, for the caller to fail.
    func finish() -> [DeliveryPromise] {
        state.withLock { state in
            state.lifecycle = .finished
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
    }
}

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
