public import CinemaKit
import Logging
import NIOCore

/// The reservation service: reservations paid synchronously and cancelled through events
/// (port 8083, consumer group `reservation`). Reads `PAYMENT_URL`, `MOVIE_URL`,
/// `PAYMENT_CALL_TIMEOUT_MS`, the `PAYMENT_BREAKER_*` settings and the `RECONCILE_*` timings.
public enum ReservationService {
    public static let definition = ServiceDefinition(
        name: "reservation",
        defaultPort: 8083,
        schema: ReservationRepository.schema,
        policies: ReservationPolicies.handlers
    ) { environment in
        components(environment, saga: paymentSaga(environment))
    }

    /// The service's routes, reconciler and readiness details around `saga`; tests pass a saga
    /// over a payment client of their own.
    public static func components(_ environment: ServiceEnvironment, saga: PaymentSaga) -> ServiceComponents {
        let settings = environment.configuration.environment
        // RECONCILE_INTERVAL_SECONDS (10) and RECONCILE_AFTER_SECONDS (30): how often, and for
        // payment calls how old, the reconciler looks; drills shorten them.
        let interval = EnvironmentSetting.integer(
            "RECONCILE_INTERVAL_SECONDS", in: settings, range: 1...3600, default: 10, logger: environment.logger)
        let settleAfter = EnvironmentSetting.integer(
            "RECONCILE_AFTER_SECONDS", in: settings, range: 1...86_400, default: 30, logger: environment.logger)
        let breaker = saga.paymentBreaker
        return ServiceComponents(
            routes: [ReservationController(persistence: environment.persistence, saga: saga).endpoints],
            backgroundServices: [
                PaymentReconciler(saga: saga, interval: .seconds(interval), settleAfterSeconds: Int64(settleAfter))
            ],
            // Shown, never judged: payment failing is no reason to take reservation out of service.
            readinessDetails: [("paymentBreaker", { breaker.state().rawValue })]
        )
    }

    /// The saga against the payment service named by `PAYMENT_URL` (each call bounded by
    /// `PAYMENT_CALL_TIMEOUT_MS`), checking movies it has not seen yet with the movie service
    /// named by `MOVIE_URL`.
    public static func paymentSaga(_ environment: ServiceEnvironment) -> PaymentSaga {
        let settings = environment.configuration.environment
        let timeout = EnvironmentSetting.integer(
            "PAYMENT_CALL_TIMEOUT_MS", in: settings, range: 1...600_000, default: 3000, logger: environment.logger)
        return paymentSaga(
            environment,
            payments: HTTPPaymentClient(baseURL: settings["PAYMENT_URL"] ?? "http://127.0.0.1:8081", timeout: .milliseconds(Int64(timeout)))
        )
    }

    /// The saga over `payments`, with the payment circuit breaker the `PAYMENT_BREAKER_*` settings describe.
    public static func paymentSaga(_ environment: ServiceEnvironment, payments: any PaymentClient) -> PaymentSaga {
        let settings = environment.configuration.environment
        return PaymentSaga(
            persistence: environment.persistence,
            payments: payments,
            movies: HTTPMovieCatalog(baseURL: settings["MOVIE_URL"] ?? "http://127.0.0.1:8082"),
            paymentBreaker: paymentBreaker(environment),
            logger: environment.logger
        )
    }

    /// Defaults: judge the last 20 calls once 10 are in; open at 50 % failed or 80 % slower than
    /// 2 s; stay open 10 s; then 3 trial calls. A call timeout of 3 s makes a payment that hangs
    /// both failed and slow.
    static func paymentBreaker(_ environment: ServiceEnvironment) -> CircuitBreaker {
        let policy = CircuitBreakerPolicy.fromEnvironment(
            environment.configuration.environment, prefix: "PAYMENT_BREAKER_", logger: environment.logger)
        environment.logger.info(
            "payment calls go through a circuit breaker",
            metadata: [
                "breaker.name": "payment", "breaker.window.size": "\(policy.windowSize)", "breaker.minimum.calls": "\(policy.minimumCalls)",
                "breaker.failure.rate.threshold": "\(policy.failureRatePercent)",
                "breaker.slow.rate.threshold": "\(policy.slowCallRatePercent)", "breaker.slow.call": "\(policy.slowCallDuration)",
                "breaker.open.duration": "\(policy.openDuration)", "breaker.half.open.calls": "\(policy.halfOpenCalls)",
            ]
        )
        return CircuitBreaker(name: "payment", policy: policy, logger: environment.logger)
    }
}
