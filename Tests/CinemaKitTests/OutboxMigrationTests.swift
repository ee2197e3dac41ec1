import CinemaEvents
import CinemaKit
import CinemaTracing
import Foundation
import Logging
import SQLKit
import Testing

/// A database from before the trace columns takes them at start-up, on both engines, keeping its waiting rows: the
/// old ones go out without a `traceparent`, the new ones with one.
@Suite struct OutboxMigrationTests {
    static var engines: [String] { ["sqlite"] + (PostgresTestServer.url == nil ? [] : ["postgresql"]) }

    /// Opens the same database twice: first with the steps of the version before the trace columns, then with all.
    func openTwice(_ engine: String) async throws -> (before: any Store, reopen: @Sendable () async throws -> any Store) {
        let before = MessagingSchema.steps.filter {
            !$0.name.hasPrefix("add column outbox") && !$0.name.hasPrefix("add column parked_outbox")
        }
        let logger = Logger(label: "test")
        if engine == "sqlite" {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("cinema-migration-\(UUID().uuidString).sqlite").path
            return (
                try await SQLiteStore.open(path: path, schema: before, logger: logger),
                { try await SQLiteStore.open(path: path, schema: MessagingSchema.steps, logger: logger) }
            )
        }
        let server = try #require(PostgresTestServer.url)
        let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await PostgresStore.createDatabase(name, serverURL: server, logger: logger)
        let url = try PostgresURL.replacingDatabase(in: server, with: name)
        return (
            try await PostgresStore.open(url: url, schema: before, logger: logger),
            { try await PostgresStore.open(url: url, schema: MessagingSchema.steps, logger: logger) }
        )
    }

    @Test(arguments: engines)
    func anOlderOutboxTakesTheTraceColumnsAndKeepsItsRows(engine: String) async throws {
        TraceLogging.bootstrapInstrumentation()
        let (old, reopen) = try await openTwice(engine)
        try await old.transaction { database in
            try await database.insert(into: "outbox")
                .columns("messageId", "eventType", "messageKey", "payload", "correlationId")
                .values(SQLBind("old-1"), SQLBind("MovieRegistered"), SQLBind("1"), SQLBind("{}"), SQLBind("c-old"))
                .run()
        }
        await old.close()

        let store = try await reopen()
        let parent = try #require(TraceParent(header: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        let movie = Movie(movieId: 1, status: .available, desc: "m", reviewCnt: 0, lastAction: .register)
        try await TraceLogging.withTraceParent(parent) {
            try await store.transaction { database in
                try await OutboxRepository.enqueue(
                    MovieRegistered(movie), metadata: EventMetadata(correlationId: "c-new"), traceParent: .current, on: database)
            }
        }
        let rows = try await store.read { try await OutboxRepository.pending(limit: 10, on: $0) }
        #expect(rows.map(\.messageId).first == "old-1")
        #expect(rows.map(\.traceParent) == [nil, parent.header])
        // The old row has no recording time: the backlog's age comes from the rows that have one.
        let backlog = try await store.read { try await OutboxRepository.backlog(on: $0) }
        #expect(backlog.rows == 2)
        let recordedAt = try #require(backlog.oldestRecordedAt)
        #expect(abs(Double(recordedAt) / 1000 - Date().timeIntervalSince1970) < 60)
        await store.close()
    }
}
