public import CinemaHTTP
public import SQLKit

/// One entity table whose columns are the entity's coding keys, so its rows are read and written
/// from the entity's `Codable` conformance: a field is spelled once, in the entity's declaration.
/// Repositories build on it; domain code never writes SQL.
public struct Table<Row: Codable & Sendable>: Sendable {
    public let name: String
    public let idColumn: String
    private let id: any WritableKeyPath<Row, Int64> & Sendable
    private let columns: @Sendable (SQLCreateTableBuilder) -> SQLCreateTableBuilder

    /// The table name doubles as the noun in "no movie with id 3". `columns` declares the columns
    /// on a `CREATE TABLE IF NOT EXISTS` for `creation`; their names are the entity's coding keys.
    public init(
        _ name: String, idColumn: String, id: any WritableKeyPath<Row, Int64> & Sendable,
        columns: @escaping @Sendable (SQLCreateTableBuilder) -> SQLCreateTableBuilder
    ) {
        self.name = name
        self.idColumn = idColumn
        self.id = id
        self.columns = columns
    }

    /// Creates the table unless it exists.
    public var creation: SchemaStep {
        SchemaStep("create table \(name)") { database in try await columns(database.create(table: name).ifNotExists()).run() }
    }

    /// Adds a column that a later version of the entity declared to a table an earlier version
    /// created (a development database kept across upgrades); see `SchemaStep.addingColumn`.
    public func addingColumn(_ column: String, type: SQLDataType, _ constraints: SQLColumnConstraintAlgorithm...) -> SchemaStep {
        SchemaStep.addingColumn(column, to: name, type: type, constraints)
    }

    /// An index on `column`, for the lookups by something other than the id (the rows of one movie): without it each
    /// is a scan of the whole table, which grows with the data (the growth benchmark found one).
    public func addingIndex(on column: String) -> SchemaStep {
        SchemaStep("index \(name).\(column)") { database in
            try await database.raw("CREATE INDEX IF NOT EXISTS \(ident: "\(name)_\(column)") ON \(ident: name) (\(ident: column))").run()
        }
    }

    /// Absent optionals become NULL rather than being left out, so an update can clear a column.
    private static var encoder: SQLQueryEncoder { SQLQueryEncoder(nilEncodingStrategy: .asNil) }

    public func page(_ request: PageRequest, on database: any SQLDatabase) async throws -> Page<Row> {
        let rows = try await database.select().columns("*").from(name)
            .orderBy(idColumn)
            .limit(request.size).offset(request.offset)
            .all(decoding: Row.self)
        return Page(items: rows, request: request, totalElements: try await count(on: database))
    }

    public func count(on database: any SQLDatabase) async throws -> Int {
        try await database.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from(name).first(decodingColumn: "n", as: Int.self) ?? 0
    }

    public func find(_ id: Int64, on database: any SQLDatabase) async throws -> Row? {
        try await database.select().columns("*").from(name)
            .where(SQLIdentifier(idColumn), .equal, SQLBind(id))
            .first(decoding: Row.self)
    }

    /// The row with this id, or `DomainError.notFound` naming what is missing.
    public func require(_ id: Int64, on database: any SQLDatabase) async throws -> Row {
        guard let row = try await find(id, on: database) else {
            throw DomainError.notFound("no \(name) with id \(id)")
        }
        return row
    }

    public func all(on database: any SQLDatabase) async throws -> [Row] {
        try await database.select().columns("*").from(name).orderBy(idColumn).all(decoding: Row.self)
    }

    /// Rows whose `column` equals `value`, in id order.
    public func all(where column: String, equals value: some Encodable & Sendable, on database: any SQLDatabase) async throws -> [Row] {
        try await database.select().columns("*").from(name)
            .where(SQLIdentifier(column), .equal, SQLBind(value))
            .orderBy(idColumn)
            .all(decoding: Row.self)
    }

    /// Stores the row with the id it carries.
    public func insert(_ row: Row, on database: any SQLDatabase) async throws {
        let columns = try Self.encoder.encode(row)
        try await database.insert(into: name).columns(columns.map(\.0)).values(columns.map(\.1)).run()
    }

    /// Stores the row under an id the database assigns (the row's own id is ignored) and returns
    /// it with that id.
    public func insertAssigningID(_ row: Row, on database: any SQLDatabase) async throws -> Row {
        let columns = try Self.encoder.encode(row).filter { $0.0 != idColumn }
        let assigned = try await database.insert(into: name).columns(columns.map(\.0)).values(columns.map(\.1))
            .returning(idColumn)
            .first(decodingColumn: idColumn, as: Int64.self)
        guard let assigned else { throw StoreError.noIdentityReturned(table: name) }
        var stored = row
        stored[keyPath: id] = assigned
        return stored
    }

    /// Writes every column of the row with the same id.
    public func update(_ row: Row, on database: any SQLDatabase) async throws {
        var update = database.update(name)
        for (column, value) in try Self.encoder.encode(row) where column != idColumn {
            update = update.set(SQLIdentifier(column), to: value)
        }
        try await update.where(SQLIdentifier(idColumn), .equal, SQLBind(row[keyPath: id])).run()
    }

    public func delete(_ id: Int64, on database: any SQLDatabase) async throws {
        try await database.delete(from: name).where(SQLIdentifier(idColumn), .equal, SQLBind(id)).run()
    }
}

public enum StoreError: Error, CustomStringConvertible {
    case noIdentityReturned(table: String)
    /// The store was closed (the process is stopping); nothing was done.
    case closed
    case invalidDatabaseURL(String)

    public var description: String {
        switch self {
        case .noIdentityReturned(let table): "insert into \(table) returned no id"
        case .closed: "the store is closed"
        case .invalidDatabaseURL(let message): message
        }
    }
}
