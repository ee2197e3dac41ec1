import CinemaEvents
import Foundation
public import SQLKit

/// Remembers which messages a service has applied, in the same transaction as their effect,
/// so a redelivered message (after a crash before the offset was stored) is applied once.
public enum InboxRepository {
    static let table = "inbox"
    static let parkedTable = "parked_events"

    static let schema: [SchemaStep] = [
        SchemaStep { database in
            try await database.create(table: table).ifNotExists()
                .column("messageId", type: .text, .primaryKey(autoIncrement: false))
                .column("eventType", type: .text, .notNull)
                .column("appliedAt", type: .text, .notNull)
                .run()
        },
        SchemaStep { database in
            try await database.create(table: parkedTable).ifNotExists()
                .identityColumn("id")
                .column("topic", type: .text, .notNull)
                .column("partition", type: .int, .notNull)
                .column("offset", type: .bigint, .notNull)
                .column("messageId", type: .text)
                .column("messageKey", type: .text)
                .column("payload", type: .text, .notNull)
                .column("reason", type: .text, .notNull)
                .column("parkedAt", type: .text, .notNull)
                .run()
        },
    ]

    /// Records the message as applied; false when it already was (the caller then does nothing).
    public static func markApplied(messageId: String, eventType: String, on database: any SQLDatabase) async throws -> Bool {
        let existing = try await database.select().column("messageId").from(table)
            .where("messageId", .equal, messageId).first()
        guard existing == nil else { return false }
        try await database.insert(into: table)
            .columns("messageId", "eventType", "appliedAt")
            .values(SQLBind(messageId), SQLBind(eventType), SQLBind(EventTimestamp.now()))
            .run()
        return true
    }

    public static func contains(messageId: String, on database: any SQLDatabase) async throws -> Bool {
        try await database.select().column("messageId").from(table)
            .where("messageId", .equal, messageId).first() != nil
    }

    public struct ParkedEvent: Sendable, Decodable, Equatable {
        public var id: Int64
        public var topic: String
        public var partition: Int
        public var offset: Int64
        public var messageId: String?
        public var messageKey: String?
        public var payload: String
        public var reason: String
        public var parkedAt: String
    }

    public static func park(
        topic: String, partition: Int32, offset: Int64, messageId: String?, key: String?, payload: String,
        reason: String, on database: any SQLDatabase
    ) async throws {
        try await database.insert(into: parkedTable)
            .columns("topic", "partition", "offset", "messageId", "messageKey", "payload", "reason", "parkedAt")
            .values(
                SQLBind(topic), SQLBind(Int(partition)), SQLBind(offset), SQLBind(messageId), SQLBind(key),
                SQLBind(payload), SQLBind(reason), SQLBind(EventTimestamp.now())
            )
            .run()
    }

    public static func parked(on database: any SQLDatabase) async throws -> [ParkedEvent] {
        try await database.select().columns("*").from(parkedTable).orderBy("id").all(decoding: ParkedEvent.self)
    }
}
