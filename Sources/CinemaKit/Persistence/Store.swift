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

    /// True while the store can serve queries.
    func isHealthy() async -> Bool

    func close() async
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
