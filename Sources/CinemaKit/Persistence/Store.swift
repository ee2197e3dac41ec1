public import SQLKit
import SQLiteKit
public import Logging

/// Where a service keeps its state, its outbox and its inbox.
///
/// Repositories are written against SQLKit's `SQLDatabase`, so the same repository code can run on
/// another engine; a store only decides how a unit of work gets a session and a transaction.
public protocol Store: Sendable {
    /// Runs `body` in one write transaction: all of it commits, or none of it.
    func transaction<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result

    /// Runs `body` against a consistent snapshot (several reads that must agree, e.g. a page and its count).
    func read<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result

    /// True while the store can serve queries.
    func isHealthy() async -> Bool

    func close() async
}

/// One SQLite file, one connection, one unit of work at a time.
///
/// SQLite serializes writers anyway; holding the single connection for a whole transaction keeps
/// other tasks' statements from landing inside it. SQLiteNIO runs the statements on its own
/// thread pool, never on Swift's cooperative pool.
public final class SQLiteStore: Store {
    private let connection: SQLiteConnection
    private let database: any SQLDatabase
    private let lock = AsyncLock()

    private init(connection: SQLiteConnection) {
        self.connection = connection
        self.database = connection.sql()
    }

    /// Opens (creating if needed) the database file and applies the schema.
    public static func open(path: String, schema: [SchemaStep], logger: Logger) async throws -> SQLiteStore {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let store = SQLiteStore(connection: connection)
        do {
            // WAL lets the file be read while a write is in progress; synchronous=FULL makes every
            // commit durable before we answer a client or store a Kafka offset.
            for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON"] {
                try await store.database.raw(SQLQueryString(pragma)).run()
            }
            try await store.transaction { database in
                for step in Self.kitSchema + schema {
                    try await step.apply(database)
                }
            }
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    /// The tables every service has: the outbox and the inbox.
    static let kitSchema: [SchemaStep] = OutboxRepository.schema + InboxRepository.schema

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
            try await database.raw(SQLQueryString(begin)).run()
            do {
                let result = try await body(database)
                try await Self.finish("COMMIT", on: database)
                return result
            } catch {
                try? await Self.finish("ROLLBACK", on: database)
                throw error
            }
        }
    }

    /// Ends the transaction even when the calling task is cancelled: SQLiteNIO refuses to run a
    /// statement for a cancelled task, and a skipped ROLLBACK would leave the shared connection
    /// inside the transaction, failing every later BEGIN.
    private static func finish(_ statement: String, on database: any SQLDatabase) async throws {
        try await Task { try await database.raw(SQLQueryString(statement)).run() }.value
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

    public func close() async {
        try? await connection.close()
    }

    deinit {
        // A store dropped without `close()` (a test, a failed start-up) still closes its file;
        // the pending close keeps the connection alive until it has run. Closing twice is harmless.
        _ = connection.close()
    }
}

/// One step of a schema: run at start-up inside one transaction, so each must be idempotent
/// (`CREATE TABLE IF NOT EXISTS`, …).
public struct SchemaStep: Sendable {
    public let apply: @Sendable (any SQLDatabase) async throws -> Void

    public init(_ apply: @escaping @Sendable (any SQLDatabase) async throws -> Void) {
        self.apply = apply
    }
}

extension SQLCreateTableBuilder {
    /// A 64-bit primary key the database assigns and never hands out twice, even after the row
    /// with the highest id is deleted: ids travel in events, so a reused id would alias two
    /// different things. SQLite needs `AUTOINCREMENT` spelled out for that; other engines' identity
    /// columns already behave so.
    @discardableResult
    public func identityColumn(_ name: String) -> Self {
        if database.dialect.name == "sqlite" {
            return column(name, type: .bigint, .custom(SQLRaw("PRIMARY KEY AUTOINCREMENT")))
        }
        return column(name, type: .bigint, .primaryKey(autoIncrement: true))
    }
}
