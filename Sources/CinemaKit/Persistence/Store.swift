import CoreMetrics
import Foundation
import Metrics
public import SQLKit

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

    /// Runs `body`, which runs exactly one statement, outside any transaction: one statement alone is atomic and
    /// reads one snapshot, so it needs no `BEGIN`/`COMMIT` (two statements of the three a `read` makes). For the hot
    /// single-row reads (`GET` of one item); anything that runs more statements must use `read`, whose statements agree
    /// with each other.
    func readSingleStatement<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result

    /// True while the store can serve queries.
    func isHealthy() async -> Bool

    /// Runs `body` unless another process sharing this database runs it under the same `name`
    /// right now, and keeps the others out until it returns; nil when another one does. For the
    /// work of which one replica at a time may do (the outbox relay, the reconciler).
    func whileLeading<Result: Sendable>(_ name: String, _ body: @Sendable () async throws -> Result) async throws -> Result?

    func close() async
}

/// A database that several processes share (PostgreSQL, replicas), through which they tell each other what changed:
/// what one replica's consumer applied, the others' clients may need to hear of (viewpage's live dashboard). A store
/// only this process opens (a SQLite file) has no one to tell and does not conform.
public protocol StoreBroadcasting: Sendable {
    /// Sends `payload` to every process listening on `channel` (this one included), in commit order with other
    /// broadcasts. Small payloads only (PostgreSQL refuses 8,000 bytes and more).
    func broadcast(_ payload: String, on channel: String) async throws

    /// Hears `channel` until the calling task is cancelled or the connection is lost (then it throws): `listening` runs
    /// once the subscription is in effect, `receive` for each payload after that, one at a time. What was broadcast
    /// before `listening`, or while nobody listened, is not heard: a caller that listens again must catch up itself.
    func listen(
        on channel: String, listening: @Sendable () async -> Void, receive: @Sendable (String) async -> Void
    ) async throws
}

extension Store {
    /// A store without a cheaper way reads in its usual transaction.
    public func readSingleStatement<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await read(body)
    }

    /// A database only this process opens (a SQLite file) has no one else to lead.
    public func whileLeading<Result: Sendable>(_ name: String, _ body: @Sendable () async throws -> Result) async throws -> Result? {
        try await body()
    }
}

extension SQLDatabase {
    /// Runs `body` between `begin` and COMMIT, or ROLLBACK when it throws: the transaction frame
    /// of a PostgreSQL session (SQLite's dedicated connections have their own, the same in
    /// effect). COMMIT and ROLLBACK run even when the calling task is cancelled (statements are
    /// refused for a cancelled task), since a skipped ROLLBACK would leave the session inside the
    /// transaction: a pooled connection returned mid-transaction.
    func inTransaction<Result: Sendable>(
        begin: String, _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        let start = ContinuousClock.now
        try await raw(SQLQueryString(begin)).run()
        do {
            let result = try await body(self)
            try await finish("COMMIT")
            recordTransaction(engine: dialect.name, since: start, outcome: "commit")
            return result
        } catch {
            try? await finish("ROLLBACK")
            recordTransaction(engine: dialect.name, since: start, outcome: "rollback")
            throw error
        }
    }

    private func finish(_ statement: String) async throws {
        try await Task { try await self.raw(SQLQueryString(statement)).run() }.value
    }
}

/// From BEGIN to the end of COMMIT or ROLLBACK, per engine and outcome: lock waits (SQLite's one writer, PostgreSQL
/// row locks) show here before they show in request latency.
func recordTransaction(engine: String, since start: ContinuousClock.Instant, outcome: String) {
    CoreMetrics.Timer(
        label: "cinema_db_transaction_duration_seconds",
        dimensions: [("engine", engine), ("outcome", outcome)],
        preferredDisplayUnit: .seconds
    )
    .record(duration: ContinuousClock.now - start)
}

/// One versioned step of a schema (a migration), named for the ledger: each database records the
/// steps it has applied (`schema_migration`) and applies, at start-up, in order, in one
/// transaction, only the ones it has not. Steps are also written to be idempotent (`IF NOT
/// EXISTS`, a column added only when missing), so a database from before the ledger takes them
/// all once without harm. A step, once released, is never edited: a change is a new step.
public struct SchemaStep: Sendable {
    public let name: String
    public let apply: @Sendable (any SQLDatabase) async throws -> Void

    public init(_ name: String, _ apply: @escaping @Sendable (any SQLDatabase) async throws -> Void) {
        self.name = name
        self.apply = apply
    }

    static let ledger = "schema_migration"

    /// Adds a column to a table an earlier version created, unless it is there. PostgreSQL says so itself (`ADD
    /// COLUMN IF NOT EXISTS`): asking for a missing column there would fail the migration's whole transaction. SQLite
    /// has no such clause, and a failed statement leaves its transaction usable, so there the column is asked for.
    public static func addingColumn(
        _ column: String, to table: String, type: SQLDataType, _ constraints: [SQLColumnConstraintAlgorithm] = []
    ) -> SchemaStep {
        SchemaStep("add column \(table).\(column)") { database in
            guard database.dialect.name == "sqlite" else {
                let definition = SQLColumnDefinition(column, dataType: type, constraints: constraints)
                try await database.raw("ALTER TABLE \(ident: table) ADD COLUMN IF NOT EXISTS \(definition)").run()
                return
            }
            let exists: Bool
            do {
                try await database.raw("SELECT \(ident: column) FROM \(ident: table) LIMIT 0").run()
                exists = true
            } catch {
                exists = false
            }
            guard !exists else { return }
            try await database.alter(table: table).column(column, type: type, constraints).run()
        }
    }

    /// Applies the steps `database` has not applied yet, and records them.
    static func migrate(_ steps: [SchemaStep], on database: any SQLDatabase) async throws {
        try await database.create(table: ledger).ifNotExists()
            .column("name", type: .text, .primaryKey(autoIncrement: false))
            .column("appliedAt", type: .text, .notNull)
            .run()
        let applied = Set(try await database.select().column("name").from(ledger).all(decodingColumn: "name", as: String.self))
        for step in steps where !applied.contains(step.name) {
            try await step.apply(database)
            try await database.insert(into: ledger).columns("name", "appliedAt")
                .values(SQLBind(step.name), SQLBind(ISO8601DateFormatter().string(from: Date()))).run()
        }
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
