public import CinemaEvents
public import CinemaHTTP
public import Hummingbird
public import SQLKit

/// A service's HTTP side for one resource: its controllers add their routes to a collection that
/// the runtime mounts (the hummingbird-examples pattern).
public protocol Controller: Sendable {
    func addRoutes(to routes: RouteCollection<BasicRequestContext>)
}

extension Controller {
    public var endpoints: RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        addRoutes(to: routes)
        return routes
    }
}

/// A change to an item, in two steps: reading the request's fields (before anything is looked up,
/// so bad input is a 400 whether or not the item exists), then applying them to the item inside
/// the transaction, which returns the event that announces the change, or nil when nothing
/// changed. A transition the domain forbids is thrown and leaves the item as it was.
public typealias ItemEdit<Row> = @Sendable (_ fields: RequestFields) throws -> ItemChange<Row>
public typealias ItemChange<Row> = @Sendable (_ item: inout Row) throws -> (any OutgoingEvent)?

/// What goes with deleting an item, in the same transaction: checks that may refuse it, related
/// rows, the event that announces it.
public typealias ItemRemoval<Row> = @Sendable (_ item: Row, _ database: any SQLDatabase, _ events: EventRecorder) async throws -> Void

extension RouterMethods {
    public typealias Handler = @Sendable (Request, Context) async throws -> Response

    /// The routes Spring Data REST gave an entity of the original: `GET /<collection>` (paged) and
    /// `GET /<collection>/{id}` always; `POST /<collection>`, `PUT` and `PATCH /<collection>/{id}`
    /// (one edit: both change only the fields sent, since the original's frontend PUTs whole HAL
    /// documents back, read-only fields included) and `DELETE /<collection>/{id}` (204) where the
    /// resource allows them.
    public func addResourceRoutes<Resource: Repository>(
        _ resource: Resource.Type,
        persistence: Persistence,
        create: Handler? = nil,
        edit: ItemEdit<Resource.Row>? = nil,
        delete removal: ItemRemoval<Resource.Row>? = nil
    ) where Resource.Row: HALResource {
        let collection = RouterPath(Resource.Row.collectionName)
        let item = RouterPath("\(Resource.Row.collectionName)/:id")
        get(collection) { request, _ -> Response in
            let pageRequest = try PageRequest(request: request)
            let page = try await persistence.read { database in try await Resource.table.page(pageRequest, on: database) }
            return try HAL.collectionResponse(page, links: LinkBuilder(request: request))
        }
        get(item) { request, context -> Response in
            let id = try itemID(context)
            // One SELECT: no transaction frame needed (the hot path of a GET).
            let row = try await persistence.readSingleStatement { database in try await Resource.require(id, on: database) }
            return try HAL.itemResponse(row, links: LinkBuilder(request: request))
        }
        if let create { post(collection, use: create) }
        if let edit {
            let handler: Handler = { request, context in
                let id = try itemID(context)
                let change = try edit(try await RequestFields.read(from: request, context: context))
                let row = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
                    var row = try await Resource.require(id, on: database)
                    // Saved even without an announcement: a change may touch only fields that the
                    // service keeps to itself (a movie's seats).
                    let announcement = try change(&row)
                    try await Resource.update(row, on: database)
                    if let announcement { try await events.record(announcement) }
                    return row
                }
                return try HAL.itemResponse(row, links: LinkBuilder(request: request))
            }
            put(item, use: handler)
            patch(item, use: handler)
        }
        if let removal {
            delete(item) { request, context -> Response in
                let id = try itemID(context)
                try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
                    let row = try await Resource.require(id, on: database)
                    try await removal(row, database, events)
                    try await Resource.delete(id, on: database)
                }
                return Response(status: .noContent)
            }
        }
    }
}
