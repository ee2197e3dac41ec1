import CinemaEvents
import Foundation
public import SQLKit

/// Remembers which messages a service has applied, in the same transaction as their effect,
/// so a redelivered message (after a crash before the offset was stored) is applied once.
public enum InboxRepository {
    static let table = "inbox"

    static let schema: [SchemaStep] = [
        SchemaStep("create table inbox") { database in
            try await database.create(table: table).ifNotExists()
                .column("messageId", type: .text, .primaryKey(autoIncrement: false))
                .column("eventType", type: .text, .notNull)
                .column("appliedAt", type: .text, .notNull)
                .run()
        }
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
}
