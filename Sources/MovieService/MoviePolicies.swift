public import CinemaEvents
public import CinemaKit
import Logging

/// How the movie service reacts to events: review counts (its own review events), and the seats:
/// a confirmed reservation takes one if one is left, or is refused (`MovieReservationRejected`,
/// the seats saga's compensation: reservation rejects it, payment refunds it); a cancelled one
/// gives its seat back. The movie's status follows its live reservations. One movie's events
/// share a partition, so they are decided one at a time, in order: never more seated than seats.
public enum MoviePolicies {
    public static let handlers = EventHandlers()
        .on(ReviewCreated.self) { event, context in
            try await updateListing(event.movieId, context) { $0.movie.countReview() }
        }
        .on(ReviewDeleted.self) { event, context in
            try await updateListing(event.movieId, context) { $0.movie.uncountReview() }
        }
        .on(ReservationConfirmed.self) { event, context in
            let database = context.database
            // A redelivered confirmation: its seat was given already.
            guard try await MovieReservationRepository.find(event.rsvId, on: database) == nil else { return }
            guard var listing = try await MovieRepository.find(event.movieId, on: database) else {
                try await context.events.record(MovieListing.rejectionOfDeleted(movieId: event.movieId, rsvId: event.rsvId))
                return
            }
            let held = try await MovieReservationRepository.count(ofMovie: event.movieId, on: database)
            switch listing.seat(rsvId: event.rsvId, held: Int64(held)) {
            case .seated(let reserved):
                try await MovieReservationRepository.insert(.init(rsvId: event.rsvId, movieId: event.movieId), on: database)
                try await MovieRepository.update(listing, on: database)
                try await context.events.record(reserved)
            case .rejected(let rejection):
                context.logger.notice(
                    "reservation refused: \(rejection.reason)",
                    metadata: ["reservation.id": "\(event.rsvId)", "movie.id": "\(event.movieId)"])
                try await context.events.record(rejection)
            }
        }
        .on(ReservationCancelled.self) { event, context in
            // Only a reservation that holds a seat gives one back (a refused one never had one).
            guard try await MovieReservationRepository.find(event.rsvId, on: context.database) != nil else { return }
            try await MovieReservationRepository.delete(event.rsvId, on: context.database)
            let live = try await MovieReservationRepository.count(ofMovie: event.movieId, on: context.database)
            try await updateListing(event.movieId, context) { $0.freeSeat(stillHeld: Int64(live)) }
        }

    /// Applies `change` to the movie and records the event it returns. A movie deleted meanwhile
    /// makes the event moot: logged, not retried.
    private static func updateListing<Announcement: OutgoingEvent>(
        _ movieId: Int64,
        _ context: HandlerContext,
        _ change: (inout MovieListing) -> Announcement
    ) async throws {
        guard var movie = try await MovieRepository.find(movieId, on: context.database) else {
            context.logger.warning("event for a movie that no longer exists", metadata: ["movie.id": "\(movieId)"])
            return
        }
        let event = change(&movie)
        try await MovieRepository.update(movie, on: context.database)
        try await context.events.record(event)
    }
}
