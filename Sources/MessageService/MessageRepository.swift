public import CinemaKit
public import SQLKit

/// The message table.
public enum MessageRepository {
    public static let messages = Table<Message>("message", idColumn: "msgId", id: \.msgId)

    public static let schema: [SchemaStep] = [
        SchemaStep { database in
            try await database.create(table: messages.name).ifNotExists()
                .identityColumn("msgId")
                .column("movieId", type: .bigint, .notNull)
                .column("content", type: .text)
                .run()
        }
    ]

    /// Stores a new message under an id the database gives it.
    @discardableResult
    public static func insert(_ message: Message, on database: any SQLDatabase) async throws -> Message {
        try await messages.insertAssigningID(message, on: database)
    }
}
