public import SQLKit

/// A service's access to one entity table: SQL only, no rules. The common reads and writes come
/// from here; a repository adds the queries its service needs beyond them.
public protocol Repository {
    associatedtype Row: Codable & Sendable
    static var table: Table<Row> { get }
    /// The statements that create the repository's tables, run at start-up.
    static var schema: [SchemaStep] { get }
}

extension Repository {
    public static var schema: [SchemaStep] { [table.creation] }

    public static func find(_ id: Int64, on database: any SQLDatabase) async throws -> Row? {
        try await table.find(id, on: database)
    }

    /// The row with this id, or `DomainError.notFound` naming what is missing.
    public static func require(_ id: Int64, on database: any SQLDatabase) async throws -> Row {
        try await table.require(id, on: database)
    }

    /// Stores a row with the id it carries.
    public static func insert(_ row: Row, on database: any SQLDatabase) async throws {
        try await table.insert(row, on: database)
    }

    /// Stores a new row and returns it with the id the database gave it.
    @discardableResult
    public static func insertAssigningID(_ row: Row, on database: any SQLDatabase) async throws -> Row {
        try await table.insertAssigningID(row, on: database)
    }

    public static func update(_ row: Row, on database: any SQLDatabase) async throws {
        try await table.update(row, on: database)
    }

    public static func delete(_ id: Int64, on database: any SQLDatabase) async throws {
        try await table.delete(id, on: database)
    }
}
