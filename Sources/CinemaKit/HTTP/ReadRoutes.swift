public import CinemaHTTP
public import Hummingbird

extension RouterMethods {
    /// `GET /<collection>` (paged) and `GET /<collection>/{id}` for a table of HAL resources.
    public func addReadRoutes<Resource: HALResource & Decodable>(_ table: Table<Resource>, persistence: Persistence) {
        get(RouterPath(Resource.collectionName)) { request, _ -> Response in
            let pageRequest = try PageRequest(request: request)
            let page = try await persistence.read { database in try await table.page(pageRequest, on: database) }
            return try HAL.collectionResponse(page, links: LinkBuilder(request: request))
        }
        get(RouterPath("\(Resource.collectionName)/:id")) { request, context -> Response in
            let id = try itemID(context)
            let item = try await persistence.read { database in try await table.require(id, on: database) }
            return try HAL.itemResponse(item, links: LinkBuilder(request: request))
        }
    }
}
