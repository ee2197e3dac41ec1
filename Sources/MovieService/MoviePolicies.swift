public import CinemaEvents
public import CinemaKit
import Logging

/// How the movie service reacts to events: review counts (its own review events) and the movie's
/// status, which follows its live reservations.
public enum MoviePolicies {
    public static let handlers = EventHandlers()
        .on(ReviewCreated.self) { event, context in
            try await updateMovie(event.movieId, context) { $0.countReview() }
        }
        .on(ReviewDeleted.self) { event, context in
            try await updateMovie(event.movieId, context) { $0.uncountReview() }
        }
        .on(ReservationConfirmed.self) { event, context in
            try await MovieReservationRepository.hold(.init(rsvId: event.rsvId, movieId: event.movieId), on: context.database)
            try await updateMovie(event.movieId, context) { $0.reserve() }
        }
        .on(ReservationCancelled.self) { event, context in
            try await MovieReservationRepository.delete(event.rsvId, on: context.database)
            let live = try await MovieReservationRepository.count(ofMovie: event.movieId, on: context.database)
            try await updateMovie(event.movieId, context) { $0.release(stillHeldBy: live) }
        }

    /// Applies `change` to the movie and records the event it returns. A movie deleted meanwhile
    /// makes the event moot: logged, not retried.
    private static func updateMovie<Announcement: OutgoingEvent>(
        _ movieId: Int64,
        _ context: HandlerContext,
        _ change: (inout Movie) -> Announcement
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
