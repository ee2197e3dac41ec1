import Foundation
public import SQLKit
import Synchronization

/// Identifies a message and the chain of work it belongs to. Travels as Kafka headers (never in
/// the JSON, whose shape belongs to the original system) and as `X-Correlation-Id` over HTTP.
public struct EventMetadata: Sendable, Equatable {
    public var correlationId: String
    /// The message id of the event whose handling caused this one, if any.
    public var causationId: String?

    public init(correlationId: String, causationId: String? = nil) {
        self.correlationId = correlationId
        self.causationId = causationId
    }

    public static func newCorrelation() -> EventMetadata {
        EventMetadata(correlationId: UUID().uuidString.lowercased())
    }
}

/// Kafka header names used by every service.
public enum MessageHeader {
    public static let messageId = "message-id"
    public static let correlationId = "correlation-id"
    public static let causationId = "causation-id"
    public static let eventType = "event-type"
}

/// An event waiting in the outbox for the broker to acknowledge it.
public struct OutboxMessage: Sendable, Equatable, Decodable {
    public var seq: Int64
    public var messageId: String
    public var eventType: String
    public var messageKey: String
    public var payload: String
    public var correlationId: String
    public var causationId: String?
}

/// Records events in the same transaction as the state change that causes them.
public struct EventRecorder: Sendable {
    let database: any SQLDatabase
    public let metadata: EventMetadata
    private let lastSeq = LastRecordedSeq()

    public init(database: any SQLDatabase, metadata: EventMetadata) {
        self.database = database
        self.metadata = metadata
    }

    public func record(_ event: some OutgoingEvent) async throws {
        let seq = try await OutboxRepository.enqueue(event, metadata: metadata, on: database)
        lastSeq.value.withLock { $0 = max($0 ?? seq, seq) }
    }

    /// The outbox position of the last event recorded, if any.
    public var lastRecordedSeq: Int64? { lastSeq.value.withLock { $0 } }
}

/// Shared by the copies of one transaction's recorder.
private final class LastRecordedSeq: Sendable {
    let value = Mutex<Int64?>(nil)
}

public enum OutboxRepository {
    static let table = "outbox"

    static let schema: [SchemaStep] = [
        SchemaStep { database in
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
    ]

    @discardableResult
    public static func enqueue(_ event: some OutgoingEvent, metadata: EventMetadata, on database: any SQLDatabase) async throws -> Int64 {
        let seq = try await database.insert(into: table)
            .columns("messageId", "eventType", "messageKey", "payload", "correlationId", "causationId")
            .values(
                SQLBind(UUID().uuidString.lowercased()),
                SQLBind(event.eventType),
                SQLBind(String(event.movieId)),
                SQLBind(String(decoding: event.encodedJSON(), as: UTF8.self)),
                SQLBind(metadata.correlationId),
                SQLBind(metadata.causationId)
            )
            .returning("seq")
            .first(decodingColumn: "seq", as: Int64.self)
        guard let seq else { throw APIError.internalError("outbox insert returned no position") }
        return seq
    }

    /// The oldest unpublished messages, in the order they were committed.
    public static func pending(limit: Int, on database: any SQLDatabase) async throws -> [OutboxMessage] {
        try await database.select().columns("*").from(table)
            .orderBy("seq")
            .limit(limit)
            .all(decoding: OutboxMessage.self)
    }

    public static func markPublished(_ seqs: [Int64], on database: any SQLDatabase) async throws {
        guard !seqs.isEmpty else { return }
        try await database.delete(from: table).where("seq", .in, seqs).run()
    }

    public static func count(on database: any SQLDatabase) async throws -> Int {
        try await database.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from(table).first(decodingColumn: "n", as: Int.self) ?? 0
    }
}
