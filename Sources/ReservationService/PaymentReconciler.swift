import CinemaKit
import Logging
public import ServiceLifecycle

/// Runs the saga's settlement of payment calls whose outcome was never learned (a crash mid-call,
/// payment down during the refund) every `interval`, for calls older than `settleAfterSeconds`.
public struct PaymentReconciler: Service {
    let saga: PaymentSaga
    let interval: Duration
    let settleAfterSeconds: Int64

    public init(saga: PaymentSaga, interval: Duration = .seconds(10), settleAfterSeconds: Int64 = 30) {
        self.saga = saga
        self.interval = interval
        self.settleAfterSeconds = settleAfterSeconds
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            await reconcileOnce()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    public func reconcileOnce() async {
        // While payment's breaker is open every void would be refused: the pass waits. Once it
        // half-opens, the pass's first void is one of its trial calls, and the pass stops at the
        // first void that fails (`settleStale`), so the reconciler never hammers a sick payment.
        guard saga.paymentBreaker.state() != .open else {
            saga.logger.debug("payment reconciliation skipped: the payment circuit breaker is open")
            return
        }
        do {
            try await saga.settleStale(startedBefore: PaymentSaga.now() - settleAfterSeconds)
        } catch {
            saga.logger.warning("payment reconciliation failed", metadata: ["error": "\(error)"])
        }
    }
}
