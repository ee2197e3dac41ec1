public import CinemaEvents
public import CinemaKit

/// How the message service reacts to events: a confirmation or a cancellation leaves a message.
public enum MessagePolicies {
    public static var handlers: EventHandlers {
        var handlers = EventHandlers()
        handlers.on(ReservationConfirmed.self) { event, context in
            try await MessageRepository.insert(.reservationConfirmed(movieId: event.movieId), on: context.database)
        }
        handlers.on(ReservationCancelled.self) { event, context in
            try await MessageRepository.insert(.reservationCancelled(movieId: event.movieId), on: context.database)
        }
        return handlers
    }
}
