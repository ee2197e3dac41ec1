public import CinemaEvents
public import CinemaKit
import Logging

/// How the reservation service reacts to events: payments confirm and cancel reservations, the
/// movie's refusal rejects one, and the movies it may take reservations for come from the movie
/// service's events.
public enum ReservationPolicies {
    public static let handlers = EventHandlers()
        .on(PaymentApproved.self) { event, context in
            guard var reservation = try await ReservationRepository.find(event.rsvId, on: context.database) else {
                if try await ReservationRepository.isPaymentPending(rsvId: event.rsvId, on: context.database) {
                    throw RetryLater("reservation \(event.rsvId) is still being created")
                }
                // Paid for a reservation that was refused (its outcome was lost and it was settled
                // without a reservation): ask for the money back, through the same event a
                // customer's cancellation sends. Payment ignores it if the payment is refunded already.
                context.logger.notice(
                    "payment for a reservation that does not exist; refunding", metadata: ["reservation.id": "\(event.rsvId)"])
                let refused = Reservation(rsvId: event.rsvId, movieId: event.movieId, status: .cancelRequested, payId: event.payId)
                try await context.events.record(ReservationCancelRequested(refused))
                return
            }
            let confirmed = reservation.confirm(payId: event.payId)
            try await ReservationRepository.update(reservation, on: context.database)
            if let confirmed { try await context.events.record(confirmed) }
        }
        .on(PaymentCancelled.self) { event, context in
            guard var reservation = try await ReservationRepository.find(event.rsvId, on: context.database),
                let cancelled = reservation.cancel(payId: event.payId)
            else { return }
            try await ReservationRepository.update(reservation, on: context.database)
            try await context.events.record(cancelled)
        }
        .on(MovieReservationRejected.self) { event, context in
            guard var reservation = try await ReservationRepository.find(event.rsvId, on: context.database),
                let rejected = reservation.reject()
            else { return }
            context.logger.notice(
                "reservation rejected by the movie: \(event.reason)", metadata: ["reservation.id": "\(event.rsvId)"])
            try await ReservationRepository.update(reservation, on: context.database)
            try await context.events.record(rejected)
        }
        .on(MovieRegistered.self) { event, context in
            try await ReservationRepository.rememberMovie(event.movieId, on: context.database)
        }
        .on(MovieDeleted.self) { event, context in
            try await ReservationRepository.forgetMovie(event.movieId, on: context.database)
        }
}
