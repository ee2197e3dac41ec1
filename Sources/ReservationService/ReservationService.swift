public import CinemaKit

/// The reservation service: reservations paid synchronously and cancelled through events
/// (port 8083, consumer group `reservation`). Reads `PAYMENT_URL` and `MOVIE_URL`.
public enum ReservationService {
    public static let definition = ServiceDefinition(
        name: "reservation",
        defaultPort: 8083,
        schema: ReservationRepository.schema,
        policies: ReservationPolicies.handlers
    ) { environment in
        let saga = paymentSaga(environment)
        let settings = environment.configuration.environment
        // RECONCILE_INTERVAL_SECONDS (10) and RECONCILE_AFTER_SECONDS (30): how often, and for
        // payment calls how old, the reconciler looks; drills shorten them.
        let interval = seconds(settings["RECONCILE_INTERVAL_SECONDS"], in: 1...3600) ?? 10
        let settleAfter = seconds(settings["RECONCILE_AFTER_SECONDS"], in: 1...86_400) ?? 30
        return ServiceComponents(
            routes: [ReservationController(persistence: environment.persistence, saga: saga).endpoints],
            backgroundServices: [PaymentReconciler(saga: saga, interval: .seconds(interval), settleAfterSeconds: settleAfter)]
        )
    }

    /// A whole number of seconds in `range`, or nil (then the default applies).
    static func seconds(_ text: String?, in range: ClosedRange<Int64>) -> Int64? {
        guard let text, let value = Int64(text), range.contains(value) else { return nil }
        return value
    }

    /// The saga against the payment service named by `PAYMENT_URL`, checking movies it has not
    /// seen yet with the movie service named by `MOVIE_URL`.
    public static func paymentSaga(_ environment: ServiceEnvironment) -> PaymentSaga {
        let settings = environment.configuration.environment
        return PaymentSaga(
            persistence: environment.persistence,
            payments: HTTPPaymentClient(baseURL: settings["PAYMENT_URL"] ?? "http://127.0.0.1:8081"),
            movies: HTTPMovieCatalog(baseURL: settings["MOVIE_URL"] ?? "http://127.0.0.1:8082"),
            logger: environment.logger
        )
    }
}
