public import Hummingbird
import Foundation
import HTTPTypes

/// A resource rendered the way Spring Data REST rendered the original's entities: its fields
/// (here including its id) and `_links` pointing at itself.
public protocol HALResource: Sendable {
    /// The collection's path segment and `_embedded` key, e.g. `movies`.
    static var collectionName: String { get }
    /// The relation name of one item, e.g. `movie`.
    static var itemRelation: String { get }
    var id: Int64 { get }
    var fields: [(String, JSONValue)] { get }
}

/// Builds absolute links from what the client used to reach us, so links work through the
/// gateway (`X-Forwarded-*`) as well as directly.
public struct LinkBuilder: Sendable {
    public let baseURL: String

    public init(baseURL: String) {
        self.baseURL = baseURL
    }

    public init(request: Request) {
        let headers = request.headers
        let forwardedProto = headers[HTTPField.Name("X-Forwarded-Proto")!]?.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) }
        let forwardedHost = headers[HTTPField.Name("X-Forwarded-Host")!]?.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) }
        let forwardedPrefix = headers[HTTPField.Name("X-Forwarded-Prefix")!] ?? ""
        let scheme = forwardedProto ?? request.uri.scheme?.rawValue ?? "http"
        let host = forwardedHost ?? request.head.authority ?? "localhost"
        self.baseURL = "\(scheme)://\(host)\(forwardedPrefix)"
    }

    public func collection(_ name: String) -> String { "\(baseURL)/\(name)" }
    public func item(_ name: String, id: Int64) -> String { "\(baseURL)/\(name)/\(id)" }
}

public enum HAL {
    public static let contentType = "application/hal+json"

    public static func item<Resource: HALResource>(_ resource: Resource, links: LinkBuilder) -> JSONValue {
        let href = links.item(Resource.collectionName, id: resource.id)
        return .object(resource.fields + [
            ("_links", .object([
                ("self", .object([("href", .string(href))])),
                (Resource.itemRelation, .object([("href", .string(href))])),
            ])),
        ])
    }

    public static func itemResponse<Resource: HALResource>(
        _ resource: Resource, links: LinkBuilder, status: HTTPResponse.Status = .ok
    ) -> Response {
        var response = JSONResponse.make(item(resource, links: links), status: status, contentType: contentType)
        if status == .created {
            response.headers[.location] = links.item(Resource.collectionName, id: resource.id)
        }
        return response
    }

    public static func collectionResponse<Resource: HALResource>(
        _ page: Page<Resource>, links: LinkBuilder
    ) -> Response {
        let base = links.collection(Resource.collectionName)
        func pageLink(_ number: Int) -> JSONValue {
            .object([("href", .string("\(base)?page=\(number)&size=\(page.request.size)"))])
        }
        var linkMembers: [(String, JSONValue)] = []
        if page.request.number > 0 {
            linkMembers.append(("first", pageLink(0)))
            linkMembers.append(("prev", pageLink(page.request.number - 1)))
        }
        linkMembers.append(("self", pageLink(page.request.number)))
        if page.request.number + 1 < page.totalPages {
            linkMembers.append(("next", pageLink(page.request.number + 1)))
            linkMembers.append(("last", pageLink(page.totalPages - 1)))
        }
        linkMembers.append(("profile", .object([("href", .string("\(links.baseURL)/profile/\(Resource.collectionName)"))])))
        let body = JSONValue.object([
            ("_embedded", .object([(Resource.collectionName, .array(page.items.map { item($0, links: links) }))])),
            ("_links", .object(linkMembers)),
            ("page", .object([
                ("size", .integer(Int64(page.request.size))),
                ("totalElements", .integer(Int64(page.totalElements))),
                ("totalPages", .integer(Int64(page.totalPages))),
                ("number", .integer(Int64(page.request.number))),
            ])),
        ])
        return JSONResponse.make(body, contentType: contentType)
    }
}

/// `?page=&size=` as Spring Data REST reads them: zero-based page, default size 20, at most 2000.
public struct PageRequest: Sendable, Equatable {
    public var number: Int
    public var size: Int

    public static let defaultSize = 20
    public static let maximumSize = 2000

    public init(number: Int = 0, size: Int = PageRequest.defaultSize) {
        self.number = number
        self.size = size
    }

    public init(request: Request) throws {
        let query = request.uri.queryParameters
        var number = 0
        var size = Self.defaultSize
        if let text = query["page"] {
            guard let value = Int(text), value >= 0 else {
                throw APIError.badRequest("page must be a non-negative integer, got \"\(text)\"", field: "page")
            }
            number = value
        }
        if let text = query["size"] {
            guard let value = Int(text), value >= 1 else {
                throw APIError.badRequest("size must be a positive integer, got \"\(text)\"", field: "size")
            }
            size = min(value, Self.maximumSize)
        }
        self.init(number: number, size: size)
    }

    public var offset: Int { number * size }
}

public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var request: PageRequest
    public var totalElements: Int

    public init(items: [Item], request: PageRequest, totalElements: Int) {
        self.items = items
        self.request = request
        self.totalElements = totalElements
    }

    public var totalPages: Int {
        totalElements == 0 ? 0 : (totalElements + request.size - 1) / request.size
    }
}

/// A path parameter that must be an item id; anything else is a 404, as for a missing item.
public func itemID(_ context: some RequestContext, name: String = "id") throws -> Int64 {
    guard let text = context.parameters.get(name), let id = Int64(text) else {
        throw APIError.notFound("no item with id \(context.parameters.get(name) ?? "")")
    }
    return id
}

/// The request's correlation id, as set by the gateway or the client, or a new one.
public func eventMetadata(for request: Request) -> EventMetadata {
    if let id = request.headers[HTTPField.Name("X-Correlation-Id")!], !id.isEmpty, id.count <= 128 {
        return EventMetadata(correlationId: id)
    }
    return .newCorrelation()
}
