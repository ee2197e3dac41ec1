import Foundation
public import Logging
public import SQLKit
import SQLiteKit
import Synchronization

/// One SQLite file, one connection, one unit of work at a time.
///
/// SQLite serializes writers anyway; holding the single connection for a whole transaction keeps
/// other tasks' statements from landing inside it. SQLiteNIO runs the statements on its own
/// thread pool, never on Swift's cooperative pool.
public final class SQLiteStore: Store {
    private let connection: SQLiteConnection
    private let database: any SQLDatabase
    private let lock = AsyncLock()
    /// Set once, under `lock`, by `close()`: later units of work fail with `StoreError.closed`
    /// instead of touching a closed handle, and the handle is closed exactly once.
    private let isClosed = Mutex(false)

    private init(connection: SQLiteConnection) {
        self.connection = connection
        self.database = connection.sql()
    }

    /// Opens (creating if needed) the database file and applies `schema` in one transaction.
    public static func open(path: String, schema: [SchemaStep], logger: Logger) async throws -> SQLiteStore {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let store = SQLiteStore(connection: connection)
        do {
            // WAL lets the file be read while a write is in progress; synchronous=FULL makes every
            // commit durable before we answer a client or store a Kafka offset.
            for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON"] {
                try await store.database.raw(SQLQueryString(pragma)).run()
            }
            try await store.transaction { database in try await SchemaStep.migrate(schema, on: database) }
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    public func transaction<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await unitOfWork(begin: "BEGIN IMMEDIATE", body)
    }

    public func read<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await unitOfWork(begin: "BEGIN DEFERRED", body)
    }

    private func unitOfWork<Result: Sendable>(
        begin: String,
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        let database = self.database
        return try await lock.withLock {
            guard !isClosed.withLock({ $0 }) else { throw StoreError.closed }
            return try await database.inTransaction(begin: begin, body)
        }
    }

    public func isHealthy() async -> Bool {
        do {
            return try await read { database in
                try await database.raw("SELECT 1 AS ok").first() != nil
            }
        } catch {
            return false
        }
    }

    /// Waits for the unit of work in progress, if any, then closes the file; what comes later is
    /// refused. Safe to call more than once. The wait runs in a task of its own, so a caller that
    /// is being cancelled (a shutdown escalated to cancellation) still closes in order.
    public func close() async {
        await Task { [self] in
            try? await lock.withLock {
                let wasClosed = isClosed.withLock { closed in
                    defer { closed = true }
                    return closed
                }
                if !wasClosed { try? await connection.close() }
            }
        }.value
    }

    deinit {
        // A store dropped without `close()` (a test, a failed start-up) still closes its file;
        // nobody can be using it any more. The pending close keeps the connection alive until run.
        if !isClosed.withLock({ $0 }) { _ = connection.close() }
    }
}
