public import CinemaKit
import Logging

/// How the movie service reacts to other services' events (and to its own review events).
public enum MoviePolicies {
    public static var handlers: EventHandlers {
        var handlers = EventHandlers()
        handlers.on(ReviewCreated.self) { event, context in
            try await updateMovie(event.movieId, context) { movie in
                movie.reviewCnt += 1
                movie.lastAction = "review"
                return MovieModified(movie.snapshot)
            }
        }
        handlers.on(ReviewDeleted.self) { event, context in
            try await updateMovie(event.movieId, context) { movie in
                movie.reviewCnt = max(0, movie.reviewCnt - 1)
                movie.lastAction = "review"
                return MovieModified(movie.snapshot)
            }
        }
        handlers.on(ReservationConfirmed.self) { event, context in
            try await updateMovie(event.movieId, context) { movie in
                movie.status = MovieStatus.reserved
                movie.lastAction = "reserved"
                return MovieReserved(movie.snapshot)
            }
        }
        handlers.on(ReservationCancelled.self) { event, context in
            try await updateMovie(event.movieId, context) { movie in
                movie.status = MovieStatus.available
                movie.lastAction = "cancelled"
                return MovieCancelled(movie.snapshot)
            }
        }
        return handlers
    }

    /// Applies `change` to the movie and records the event it returns. A movie deleted meanwhile
    /// makes the event moot: logged, not retried.
    private static func updateMovie(
        _ movieId: Int64,
        _ context: HandlerContext,
        _ change: (inout Movie) -> any OutgoingEvent
    ) async throws {
        guard var movie = try await MovieRepository.movies.find(movieId, on: context.database) else {
            context.logger.warning("event for a movie that no longer exists", metadata: ["movie.id": "\(movieId)"])
            return
        }
        let event = change(&movie)
        try await MovieRepository.save(movie, on: context.database)
        try await context.events.record(event)
    }
}
