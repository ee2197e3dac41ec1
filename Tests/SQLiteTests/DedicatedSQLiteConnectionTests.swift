import Dispatch
import Foundation
import Logging
import SQLKit
import Synchronization
import Testing

@testable import SQLite

/// A connection to a fresh file in a temporary folder.
private func temporaryConnection(label: String = "test.sqlite") async throws -> DedicatedSQLiteConnection {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-test-\(UUID().uuidString).sqlite").path
    return try await DedicatedSQLiteConnection.open(path: path, label: label, logger: .init(label: "test"))
}

/// The label of the connection queue the caller runs on.
private func currentQueueLabel() -> String? {
    SerialQueueExecutor.currentLabel
}

@Suite struct DedicatedSQLiteConnectionTests {
    @Test func aWholeUnitOfWorkRunsOnTheConnectionsOwnQueue() async throws {
        let connection = try await temporaryConnection(label: "test.writer")
        let labels = try await connection.transaction(begin: "BEGIN IMMEDIATE") { database in
            var labels = [currentQueueLabel()]
            try await database.raw("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)").run()
            labels.append(currentQueueLabel())
            try await database.raw("INSERT INTO t (name) VALUES (\(bind: "a"))").run()
            labels.append(currentQueueLabel())
            return labels
        }
        // Every statement returned to the same queue: no hop to a thread pool and back between them.
        #expect(labels == ["test.writer", "test.writer", "test.writer"])
        #expect(currentQueueLabel() != "test.writer", "the caller is back on its own executor")
        await connection.close()
    }

    @Test(arguments: ["plain", "", "zero \u{0} inside", "ünïcödé ✓ 🎬", String(repeating: "x", count: 100_000)])
    func textRoundTripsWhole(_ text: String) async throws {
        let connection = try await temporaryConnection()
        let read = try await connection.run { database in
            try await database.raw("CREATE TABLE t (value TEXT)").run()
            try await database.raw("INSERT INTO t (value) VALUES (\(bind: text))").run()
            return try await database.raw("SELECT value FROM t").first()?.decode(column: "value", as: String.self)
        }
        #expect(read == text)
        await connection.close()
    }

    @Test func valuesOfEveryTypeDecode() async throws {
        let connection = try await temporaryConnection()
        let row = try await connection.run { database in
            try await database.raw(
                "SELECT \(bind: Int64.max) AS big, \(bind: -1.5) AS real, \(bind: true) AS flag, NULL AS absent, x'00ff' AS bytes"
            ).first()
        }
        let found = try #require(row)
        #expect(try found.decode(column: "big", as: Int64.self) == .max)
        #expect(try found.decode(column: "real", as: Double.self) == -1.5)
        #expect(try found.decode(column: "flag", as: Bool.self))
        #expect(try found.decodeNil(column: "absent"))
        #expect(try found.decode(column: "absent", as: Int64?.self) == nil)
        #expect(try found.decode(column: "bytes", as: Data.self) == Data([0, 255]))
        #expect(found.allColumns == ["big", "real", "flag", "absent", "bytes"])
        #expect(throws: DecodingError.self) { try found.decode(column: "missing", as: Int64.self) }
        await connection.close()
    }

    @Test func failuresCarrySQLitesCodeAndMessage() async throws {
        let connection = try await temporaryConnection()
        try await connection.run { database in try await database.raw("CREATE TABLE t (id INTEGER PRIMARY KEY)").run() }
        try await connection.run { database in try await database.raw("INSERT INTO t (id) VALUES (1)").run() }
        let failure = await #expect(throws: SQLiteFailure.self) {
            try await connection.run { database in try await database.raw("INSERT INTO t (id) VALUES (1)").run() }
        }
        #expect(failure?.code == 1555, "SQLITE_CONSTRAINT_PRIMARYKEY, an extended code")
        #expect(failure?.message.contains("UNIQUE constraint failed") == true)
        await #expect(throws: SQLiteFailure.self) {
            try await connection.run { database in try await database.raw("SELEKT 1").run() }
        }
        // A failed statement leaves the connection usable, the cached statement reset.
        let count = try await connection.run { database in
            try await database.raw("SELECT count(*) AS n FROM t").first()?.decode(column: "n", as: Int.self)
        }
        #expect(count == 1)
        await connection.close()
    }

    @Test func moreDistinctStatementsThanTheCacheHoldsStillRun() async throws {
        let connection = try await temporaryConnection()
        let sum = try await connection.run { database in
            var sum = 0
            // Past the cache's limit statements are prepared for one use and finalized; the cached ones keep working.
            for round in 0..<2 {
                for value in 0..<300 {
                    sum +=
                        try await database.raw("SELECT \(unsafeRaw: String(value)) + \(bind: round) AS v").first()?.decode(
                            column: "v", as: Int.self) ?? 0
                }
            }
            return sum
        }
        #expect(sum == 2 * (0..<300).reduce(0, +) + 300)
        await connection.close()
    }

    @Test func aTransactionRollsBackWhenItsWorkThrowsAndACancelledTasksStatementsAreRefused() async throws {
        let connection = try await temporaryConnection()
        try await connection.run { database in try await database.raw("CREATE TABLE t (id INTEGER PRIMARY KEY)").run() }
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await connection.transaction(begin: "BEGIN IMMEDIATE") { database in
                try await database.raw("INSERT INTO t (id) VALUES (1)").run()
                throw Boom()
            }
        }
        let inserted = Mutex(false)
        let cancelled = Task {
            try await connection.transaction(begin: "BEGIN IMMEDIATE") { database in
                try await database.raw("INSERT INTO t (id) VALUES (2)").run()
                inserted.withLock { $0 = true }
                while !Task.isCancelled { await Task.yield() }
                try await database.raw("INSERT INTO t (id) VALUES (3)").run()
            }
        }
        while !inserted.withLock({ $0 }) { await Task.yield() }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        // Both rolled back (the frame's ROLLBACK ran for the cancelled task too), and the connection takes a new BEGIN.
        let count = try await connection.transaction(begin: "BEGIN IMMEDIATE") { database in
            try await database.raw("SELECT count(*) AS n FROM t").first()?.decode(column: "n", as: Int.self)
        }
        #expect(count == 0)
        await connection.close()
    }

    @Test func aClosedConnectionRefusesStatements() async throws {
        let connection = try await temporaryConnection()
        await connection.close()
        await connection.close()
        await #expect(throws: SQLiteFailure.self) {
            try await connection.run { database in try await database.raw("SELECT 1").run() }
        }
    }
}
