public import CinemaEvents
public import CinemaKit

/// How the message service reacts to events: a confirmation, a cancellation or a rejection leaves
/// a message.
public enum MessagePolicies {
    public static let handlers = EventHandlers()
        .on(ReservationConfirmed.self) { event, context in
            try await MessageRepository.insertAssigningID(.reservationConfirmed(movieId: event.movieId), on: context.database)
        }
        .on(ReservationCancelled.self) { event, context in
            try await MessageRepository.insertAssigningID(.reservationCancelled(movieId: event.movieId), on: context.database)
        }
        .on(ReservationRejected.self) { event, context in
            try await MessageRepository.insertAssigningID(.reservationRejected(movieId: event.movieId), on: context.database)
        }
}
