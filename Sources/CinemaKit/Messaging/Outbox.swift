public import CinemaEvents
public import CinemaTracing
import Foundation
public import SQLKit

/// An event waiting in the outbox for the broker to acknowledge it.
public struct OutboxMessage: Sendable, Equatable, Decodable {
    public var seq: Int64
    public var messageId: String
    public var eventType: String
    public var messageKey: String
    public var payload: String
    public var correlationId: String
    public var causationId: String?
    /// The W3C `traceparent` of the span that recorded the event (the request or the event handler); the relay sends
    /// it as a Kafka header so the consumers continue the same trace. NULL for rows from before tracing.
    public var traceParent: String?
}

public enum OutboxRepository {
    static let table = "outbox"

    static let schema: [SchemaStep] = [
        SchemaStep("create table outbox") { database in
            try await database.create(table: table).ifNotExists()
                .identityColumn("seq")
                .column("messageId", type: .text, .notNull, .unique)
                .column("eventType", type: .text, .notNull)
                .column("messageKey", type: .text, .notNull)
                .column("payload", type: .text, .notNull)
                .column("correlationId", type: .text, .notNull)
                .column("causationId", type: .text)
                .run()
        },
        // Rows the broker refused for good (see `park`).
        SchemaStep("create table parked_outbox") { database in
            try await database.create(table: parkedTable).ifNotExists()
                .column("seq", type: .bigint, .primaryKey(autoIncrement: false))
                .column("messageId", type: .text, .notNull)
                .column("eventType", type: .text, .notNull)
                .column("messageKey", type: .text, .notNull)
                .column("payload", type: .text, .notNull)
                .column("correlationId", type: .text, .notNull)
                .column("causationId", type: .text)
                .column("error", type: .text, .notNull)
                .column("parkedAt", type: .text, .notNull)
                .run()
        },
        SchemaStep.addingColumn("traceParent", to: table, type: .text),
        SchemaStep.addingColumn("traceParent", to: parkedTable, type: .text),
        // When the row was committed (Unix milliseconds), for the age of the backlog; NULL for older rows.
        SchemaStep.addingColumn("recordedAt", to: table, type: .bigint),
    ]

    @discardableResult
    public static func enqueue(
        _ event: some OutgoingEvent, metadata: EventMetadata, traceParent: TraceParent? = nil, on database: any SQLDatabase
    ) async throws -> Int64 {
        let seq = try await database.insert(into: table)
            .columns("messageId", "eventType", "messageKey", "payload", "correlationId", "causationId", "traceParent", "recordedAt")
            .values(
                SQLBind(UUID().uuidString.lowercased()),
                SQLBind(event.eventType),
                SQLBind(String(event.movieId)),
                SQLBind(String(decoding: try event.encodedJSON(), as: UTF8.self)),
                SQLBind(metadata.correlationId),
                SQLBind(metadata.causationId),
                SQLBind(traceParent?.header),
                SQLBind(Int64(Date().timeIntervalSince1970 * 1000))
            )
            .returning("seq")
            .first(decodingColumn: "seq", as: Int64.self)
        guard let seq else { throw StoreError.noIdentityReturned(table: table) }
        return seq
    }

    /// The oldest unpublished messages, in the order they were committed.
    public static func pending(limit: Int, on database: any SQLDatabase) async throws -> [OutboxMessage] {
        try await database.select().columns("*").from(table)
            .orderBy("seq")
            .limit(limit)
            .all(decoding: OutboxMessage.self)
    }

    /// Whether any row up to `seq` still waits to be published.
    public static func hasPending(through seq: Int64, on database: any SQLDatabase) async throws -> Bool {
        try await database.select().column("seq").from(table).where("seq", .lessThanOrEqual, SQLBind(seq)).limit(1).first() != nil
    }

    static let parkedTable = "parked_outbox"

    /// Moves a row the broker refused for good out of the way, with the reason; nothing else is
    /// held up by it, and it can be looked at (and re-enqueued by hand) later.
    public static func park(_ message: OutboxMessage, error: String, on database: any SQLDatabase) async throws {
        try await database.insert(into: parkedTable)
            .columns(
                "seq", "messageId", "eventType", "messageKey", "payload", "correlationId", "causationId", "traceParent", "error",
                "parkedAt"
            )
            .values(
                SQLBind(message.seq), SQLBind(message.messageId), SQLBind(message.eventType), SQLBind(message.messageKey),
                SQLBind(message.payload), SQLBind(message.correlationId), SQLBind(message.causationId),
                SQLBind(message.traceParent), SQLBind(error), SQLBind(EventTimestamp.now())
            )
            .run()
        try await database.delete(from: table).where("seq", .equal, SQLBind(message.seq)).run()
    }

    public static func parkedCount(on database: any SQLDatabase) async throws -> Int {
        try await database.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from(parkedTable).first(decodingColumn: "n", as: Int.self) ?? 0
    }

    public static func markPublished(_ seqs: [Int64], on database: any SQLDatabase) async throws {
        guard !seqs.isEmpty else { return }
        try await database.delete(from: table).where("seq", .in, seqs).run()
    }

    /// How many rows wait, and when the oldest of them was recorded (Unix milliseconds; nil when none, or only rows
    /// from before the column).
    public static func backlog(on database: any SQLDatabase) async throws -> (rows: Int, oldestRecordedAt: Int64?) {
        struct Row: Decodable {
            var n: Int
            var oldest: Int64?
        }
        let row = try await database.select()
            .column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .column(SQLFunction("MIN", args: SQLIdentifier("recordedAt")), as: "oldest")
            .from(table).first(decoding: Row.self)
        return (row?.n ?? 0, row?.oldest)
    }

    public static func count(on database: any SQLDatabase) async throws -> Int {
        try await database.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from(table).first(decodingColumn: "n", as: Int.self) ?? 0
    }
}
