public import CinemaKit
import Logging
public import SQLKit

/// A notification sent to the customer when a reservation is confirmed or cancelled.
public struct Message: HALResource, Decodable, Equatable {
    public var msgId: Int64
    public var movieId: Int64
    public var content: String?

    public static let collectionName = "messages"
    public static let itemRelation = "message"
    public var id: Int64 { msgId }

    public var fields: [(String, JSONValue)] {
        [("msgId", .integer(msgId)), ("movieId", .integer(movieId)), ("content", .string(content))]
    }
}

public enum MessageRepository {
    public static let messages = Table<Message>("message", id: "msgId")

    public static let schema: [SchemaStep] = [
        SchemaStep { database in
            try await database.create(table: messages.name).ifNotExists()
                .identityColumn("msgId")
                .column("movieId", type: .bigint, .notNull)
                .column("content", type: .text)
                .run()
        },
    ]

    public static func insert(movieId: Int64, content: String, on database: any SQLDatabase) async throws {
        try await database.insert(into: messages.name)
            .columns("movieId", "content")
            .values(SQLBind(movieId), SQLBind(content))
            .run()
    }
}

/// The original's notification texts, word for word.
public enum MessageText {
    public static func reservationConfirmed(movieId: Int64) -> String {
        "예약이 완료 되었습니다. 예약 영화 번호 : [\(movieId)]"
    }

    public static func reservationCancelled(movieId: Int64) -> String {
        "예약이 취소 되었습니다. 예약 영화 번호 : [\(movieId)]"
    }
}

public enum MessagePolicies {
    public static var handlers: EventHandlers {
        var handlers = EventHandlers()
        handlers.on(ReservationConfirmed.self) { event, context in
            try await MessageRepository.insert(
                movieId: event.movieId, content: MessageText.reservationConfirmed(movieId: event.movieId), on: context.database
            )
        }
        handlers.on(ReservationCancelled.self) { event, context in
            try await MessageRepository.insert(
                movieId: event.movieId, content: MessageText.reservationCancelled(movieId: event.movieId), on: context.database
            )
        }
        return handlers
    }
}

public enum MessageService {
    public static let definition = ServiceDefinition(
        name: "message",
        defaultPort: 8084,
        schema: MessageRepository.schema,
        handlers: MessagePolicies.handlers
    ) { router, environment in
        router.addReadRoutes(MessageRepository.messages, persistence: environment.persistence)
    }
}
