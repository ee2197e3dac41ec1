public import SQLKit
public import Hummingbird

/// Reads of one entity table: a page in id order with its total, or one row by id.
public struct Table<Row: Decodable & Sendable>: Sendable {
    public let name: String
    public let idColumn: String

    public init(_ name: String, id idColumn: String) {
        self.name = name
        self.idColumn = idColumn
    }

    public func page(_ request: PageRequest, on database: any SQLDatabase) async throws -> Page<Row> {
        let rows = try await database.select().columns("*").from(name)
            .orderBy(idColumn)
            .limit(request.size).offset(request.offset)
            .all(decoding: Row.self)
        let total = try await database.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from(name).first(decodingColumn: "n", as: Int.self) ?? 0
        return Page(items: rows, request: request, totalElements: total)
    }

    public func find(_ id: Int64, on database: any SQLDatabase) async throws -> Row? {
        try await database.select().columns("*").from(name)
            .where(SQLIdentifier(idColumn), .equal, SQLBind(id))
            .first(decoding: Row.self)
    }

    public func all(on database: any SQLDatabase) async throws -> [Row] {
        try await database.select().columns("*").from(name).orderBy(idColumn).all(decoding: Row.self)
    }

    public func delete(_ id: Int64, on database: any SQLDatabase) async throws {
        try await database.delete(from: name).where(SQLIdentifier(idColumn), .equal, SQLBind(id)).run()
    }
}

extension Table where Row: HALResource {
    /// The row with this id, or a 404 naming what is missing.
    public func require(_ id: Int64, on database: any SQLDatabase) async throws -> Row {
        guard let row = try await find(id, on: database) else {
            throw APIError.notFound("no \(Row.itemRelation) with id \(id)")
        }
        return row
    }
}

extension RouterMethods {
    /// `GET /<collection>` (paged) and `GET /<collection>/{id}` for a table of HAL resources.
    public func addReadRoutes<Resource: HALResource & Decodable>(
        _ table: Table<Resource>, persistence: Persistence
    ) {
        let collection = RouterPath(Resource.collectionName)
        get(collection) { request, _ -> Response in
            let pageRequest = try PageRequest(request: request)
            let page = try await persistence.read { database in try await table.page(pageRequest, on: database) }
            return HAL.collectionResponse(page, links: LinkBuilder(request: request))
        }
        get(RouterPath("\(Resource.collectionName)/:id")) { request, context -> Response in
            let id = try itemID(context)
            let item = try await persistence.read { database in try await table.require(id, on: database) }
            return HAL.itemResponse(item, links: LinkBuilder(request: request))
        }
    }
}
