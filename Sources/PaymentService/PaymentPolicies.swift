public import CinemaEvents
public import CinemaKit
import Logging

/// How the payment service reacts to events: a cancellation request refunds the payment.
public enum PaymentPolicies {
    public static let handlers = EventHandlers()
        .on(ReservationCancelRequested.self) { event, context in
            guard var payment = try await PaymentRepository.find(rsvId: event.rsvId, on: context.database) else {
                context.logger.warning("cancel requested for a reservation without payment", metadata: ["reservation.id": "\(event.rsvId)"])
                return
            }
            if let refunded = payment.refund() {
                try await PaymentRepository.update(payment, on: context.database)
                try await context.events.record(refunded)
            }
        }
}
