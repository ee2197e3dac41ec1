public import CinemaJSON
import Foundation
public import HTTPTypes
public import Hummingbird

/// A resource rendered the way Spring Data REST rendered the original's entities: its fields
/// (here including its id), in declaration order, and `_links` pointing at itself.
public protocol HALResource: Encodable, Sendable {
    /// The collection's path segment and `_embedded` key, e.g. `movies`.
    static var collectionName: String { get }
    /// The relation name of one item, e.g. `movie`.
    static var itemRelation: String { get }
    var id: Int64 { get }
}

extension HALResource {
    /// The collection name without its plural `s`, as Spring Data REST derived it.
    public static var itemRelation: String {
        collectionName.hasSuffix("s") ? String(collectionName.dropLast()) : collectionName
    }
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
        func first(_ name: HTTPField.Name) -> String? {
            headers[name]?.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let scheme = first(.xForwardedProto) ?? request.uri.scheme?.rawValue ?? "http"
        let host = first(.xForwardedHost) ?? request.head.authority ?? "localhost"
        self.baseURL = "\(scheme)://\(host)\(headers[.xForwardedPrefix] ?? "")"
    }

    public func collection(_ name: String) -> String { "\(baseURL)/\(name)" }
    public func item(_ name: String, id: Int64) -> String { "\(baseURL)/\(name)/\(id)" }
}

public enum HAL {
    public static let contentType = "application/hal+json"

    public static func item<Resource: HALResource>(_ resource: Resource, links: LinkBuilder) throws -> JSONValue {
        let href = links.item(Resource.collectionName, id: resource.id)
        let link = JSONValue.object([("href", .string(href))])
        return .object(
            try JSONValueEncoder().encodeObject(resource) + [
                ("_links", .object([("self", link), (Resource.itemRelation, link)]))
            ])
    }

    public static func itemResponse<Resource: HALResource>(
        _ resource: Resource, links: LinkBuilder, status: HTTPResponse.Status = .ok
    ) throws -> Response {
        var response = JSONResponse.make(try item(resource, links: links), status: status, contentType: contentType)
        if status == .created {
            response.headers[.location] = links.item(Resource.collectionName, id: resource.id)
        }
        return response
    }

    public static func collectionResponse<Resource: HALResource>(_ page: Page<Resource>, links: LinkBuilder) throws -> Response {
        let base = links.collection(Resource.collectionName)
        let request = page.request
        func pageLink(_ number: Int) -> JSONValue {
            .object([("href", .string("\(base)?page=\(number)&size=\(request.size)"))])
        }
        var linkMembers: [(String, JSONValue)] = []
        if request.number > 0 {
            linkMembers.append(("first", pageLink(0)))
            linkMembers.append(("prev", pageLink(request.number - 1)))
        }
        linkMembers.append(("self", pageLink(request.number)))
        if request.number + 1 < page.totalPages {
            linkMembers.append(("next", pageLink(request.number + 1)))
            linkMembers.append(("last", pageLink(page.totalPages - 1)))
        }
        linkMembers.append(("profile", .object([("href", .string("\(links.baseURL)/profile/\(Resource.collectionName)"))])))
        let body = JSONValue.object([
            ("_embedded", .object([(Resource.collectionName, .array(try page.items.map { try item($0, links: links) }))])),
            ("_links", .object(linkMembers)),
            (
                "page",
                .object([
                    ("size", .integer(Int64(request.size))),
                    ("totalElements", .integer(Int64(page.totalElements))),
                    ("totalPages", .integer(Int64(page.totalPages))),
                    ("number", .integer(Int64(request.number))),
                ])
            ),
        ])
        return JSONResponse.make(body, contentType: contentType)
    }
}
