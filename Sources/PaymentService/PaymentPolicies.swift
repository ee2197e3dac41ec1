public import CinemaEvents
public import CinemaKit
import Logging

/// How the payment service reacts to events: a cancellation request, or a rejection by the movie,
/// refunds the payment (once: a refunded payment stays as it is).
public enum PaymentPolicies {
    public static let handlers = EventHandlers()
        .on(ReservationCancelRequested.self) { event, context in
            try await refund(rsvId: event.rsvId, context, why: "cancel requested")
        }
        .on(ReservationRejected.self) { event, context in
            try await refund(rsvId: event.rsvId, context, why: "reservation rejected")
        }

    private static func refund(rsvId: Int64, _ context: HandlerContext, why: String) async throws {
        guard var payment = try await PaymentRepository.find(rsvId: rsvId, on: context.database) else {
            context.logger.warning("\(why) for a reservation without payment", metadata: ["reservation.id": "\(rsvId)"])
            return
        }
        if let refunded = payment.refund() {
            try await PaymentRepository.update(payment, on: context.database)
            try await context.events.record(refunded)
        }
    }
}
