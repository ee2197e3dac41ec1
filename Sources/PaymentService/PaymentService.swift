public import CinemaKit

/// The payment service: takes payments for reservations and refunds them (port 8081, consumer
/// group `payment`).
public enum PaymentService {
    public static let definition = ServiceDefinition(
        name: "payment",
        defaultPort: 8081,
        schema: PaymentRepository.schema + VoidedReservationRepository.schema,
        policies: PaymentPolicies.handlers
    ) { environment in
        ServiceComponents(routes: [PaymentController(persistence: environment.persistence).endpoints])
    }
}
