public import CinemaEvents
public import CinemaKit
import Logging

/// The view handlers of the original, one per event it listed (see `MovieView` for what each shows).
public enum ViewpagePolicies {
    public static let handlers = EventHandlers()
        .on(MovieRegistered.self) { event, context in
            try await MovieViewRepository.replace(.registered(event.body), on: context.database)
        }
        .on(MovieModified.self) { event, context in
            try await updateView(event.movieId, context) { $0.showDetails(of: event.body) }
        }
        .on(MovieReserved.self) { event, context in
            try await updateView(event.movieId, context) { $0.showStatus(of: event.body) }
        }
        .on(MovieCancelled.self) { event, context in
            try await updateView(event.movieId, context) { $0.showStatus(of: event.body) }
        }
        .on(MovieDeleted.self) { event, context in
            try await MovieViewRepository.delete(event.movieId, on: context.database)
        }
        .on(ReservationConfirmed.self) { event, context in
            try await updateView(event.movieId, context) { $0.showReservation(event.body) }
        }
        .on(ReservationCancelled.self) { event, context in
            try await updateView(event.movieId, context) { $0.showStatus(of: event.body) }
        }
        .on(ReservationRejected.self) { event, context in
            try await updateView(event.movieId, context) { $0.showStatus(of: event.body) }
        }
        .on(PaymentApproved.self) { event, context in
            try await updateView(event.movieId, context) { $0.showPayment(event.body) }
        }
        .on(PaymentCancelled.self) { event, context in
            try await updateView(event.movieId, context) { $0.showPayment(event.body) }
        }

    /// Changes the movie's row; a movie the view has never seen is skipped (its registration is
    /// the only event that creates a row).
    private static func updateView(_ movieId: Int64, _ context: HandlerContext, _ change: (inout MovieView) -> Void) async throws {
        guard var view = try await MovieViewRepository.find(movieId, on: context.database) else {
            context.logger.info("event for a movie not in the view", metadata: ["movie.id": "\(movieId)"])
            return
        }
        change(&view)
        try await MovieViewRepository.update(view, on: context.database)
    }
}
