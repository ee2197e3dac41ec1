import Foundation
public import Logging
public import SQLKit
import SQLite
import Synchronization

/// One SQLite file: one writer connection, one write at a time on it, and reader connections for reads.
///
/// SQLite serializes writers anyway; holding the writer for a whole transaction keeps other tasks'
/// statements from landing inside it. Reads have connections of their own (`readerCount`): in WAL
/// mode a reader sees the last commit while a write is in progress, so a `GET` does not wait behind
/// a transaction's fsync, and reads run beside each other. A read that begins after a commit sees
/// it (its snapshot starts with its first statement). Each connection runs a whole unit of work on
/// a queue of its own (`DedicatedSQLiteConnection`), never on Swift's cooperative pool.
public final class SQLiteStore: Store {
    private let writer: DedicatedSQLiteConnection
    private let lock = AsyncLock()
    /// Readers nobody uses right now; `readerPermits` has as many permits as there are readers, so a
    /// holder of one always finds one here.
    private let idleReaders: Mutex<[DedicatedSQLiteConnection]>
    private let readerPermits: AsyncLock
    private let readerCount: Int
    /// Set once, under `lock`, by `close()`: later units of work fail with `StoreError.closed`
    /// instead of touching a closed handle, and each handle is closed exactly once.
    private let isClosed = Mutex(false)

    private init(writer: DedicatedSQLiteConnection, readers: [DedicatedSQLiteConnection]) {
        self.writer = writer
        self.idleReaders = Mutex(readers)
        self.readerCount = readers.count
        self.readerPermits = AsyncLock(permits: max(1, readers.count))
    }

    /// Opens (creating if needed) the database file, applies `schema` in one transaction, then opens
    /// `readerCount` reader connections (two: one per core on a small machine). With none, reads take
    /// their turn on the writer's connection.
    public static func open(path: String, schema: [SchemaStep], logger: Logger, readerCount: Int = 2) async throws -> SQLiteStore {
        let connection = try await DedicatedSQLiteConnection.open(path: path, label: "sqlite.writer", logger: logger)
        var readers: [DedicatedSQLiteConnection] = []
        do {
            // WAL lets the file be read while a write is in progress; synchronous=FULL makes every
            // commit durable before we answer a client or store a Kafka offset.
            try await connection.run { database in
                for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON"] {
                    try await database.raw(SQLQueryString(pragma)).run()
                }
            }
            try await connection.transaction(begin: "BEGIN IMMEDIATE") { database in
                try await SchemaStep.migrate(schema, on: database)
            }
            for index in 0..<max(0, readerCount) {
                let reader = try await DedicatedSQLiteConnection.open(path: path, label: "sqlite.reader.\(index)", logger: logger)
                readers.append(reader)
                // query_only: a unit of work opened for reading that tried to write fails at once, instead of
                // writing beside the writer's transaction. busy_timeout: a reader can meet a lock in rare cases
                // (a checkpoint resetting the log).
                try await reader.run { database in
                    for pragma in ["PRAGMA query_only=ON", "PRAGMA busy_timeout=5000"] {
                        try await database.raw(SQLQueryString(pragma)).run()
                    }
                }
            }
        } catch {
            for reader in readers { await reader.close() }
            await connection.close()
            throw error
        }
        return SQLiteStore(writer: connection, readers: readers)
    }

    public func transaction<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await onWriter { connection in try await Self.measured { try await connection.transaction(begin: "BEGIN IMMEDIATE", body) } }
    }

    /// On a reader connection: one snapshot for every statement in `body`.
    public func read<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await onReader { connection in try await Self.measured { try await connection.transaction(begin: "BEGIN DEFERRED", body) } }
    }

    /// On a reader connection in autocommit mode: the statement is its own read transaction.
    public func readSingleStatement<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await onReader { connection in try await connection.run(body) }
    }

    /// Units of work queued for the writer's connection (tests and diagnostics).
    var unitsOfWorkWaitingForTheWriter: Int { lock.queuedWaiters }

    /// A transaction's duration in `cinema_db_transaction_duration_seconds`, as PostgreSQL's are.
    private static func measured<Result>(_ transaction: () async throws -> Result) async throws -> Result {
        let start = ContinuousClock.now
        do {
            let result = try await transaction()
            recordTransaction(engine: "sqlite", since: start, outcome: "commit")
            return result
        } catch {
            recordTransaction(engine: "sqlite", since: start, outcome: "rollback")
            throw error
        }
    }

    /// `work` alone on the writer's connection.
    private func onWriter<Result: Sendable>(
        _ work: @Sendable (DedicatedSQLiteConnection) async throws -> Result
    ) async throws -> Result {
        try await lock.withLock {
            guard !isClosed.withLock({ $0 }) else { throw StoreError.closed }
            return try await work(writer)
        }
    }

    /// `work` alone on an idle reader, or on the writer's connection between its transactions when there are none.
    private func onReader<Result: Sendable>(
        _ work: @Sendable (DedicatedSQLiteConnection) async throws -> Result
    ) async throws -> Result {
        guard readerCount > 0 else { return try await onWriter(work) }
        return try await readerPermits.withLock {
            guard !isClosed.withLock({ $0 }) else { throw StoreError.closed }
            // Holding a permit, there is an idle reader.
            let reader = idleReaders.withLock { $0.removeLast() }
            defer { idleReaders.withLock { $0.append(reader) } }
            return try await work(reader)
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

    /// Waits for the units of work in progress, then closes the file; what comes later is refused.
    /// Safe to call more than once. The wait runs in a task of its own, so a caller that is being
    /// cancelled (a shutdown escalated to cancellation) still closes in order.
    public func close() async {
        await Task { [self] in
            try? await lock.withLock {
                let wasClosed = isClosed.withLock { closed in
                    defer { closed = true }
                    return closed
                }
                guard !wasClosed else { return }
                // Every reader back first (reads that come later find the store closed when they get a permit).
                try? await readerPermits.withAllPermits(readerCount) {
                    for reader in idleReaders.withLock({ $0 }) { await reader.close() }
                }
                await writer.close()
            }
        }.value
    }

}
