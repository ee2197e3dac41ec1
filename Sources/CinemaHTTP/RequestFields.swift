public import CinemaJSON
import Foundation
public import Hummingbird

/// The fields of a JSON request body, read one by one with errors that name the field.
///
/// Integers are also accepted as decimal strings, as Spring (Jackson) did: httpie's
/// `movieId=1` sends `"1"`, and the original's walkthrough relies on that.
public struct RequestFields: Sendable {
    public let members: [String: JSONValue]

    public init(members: [String: JSONValue]) {
        self.members = members
    }

    /// The largest body any service accepts; bigger ones get 413 before they are parsed.
    public static let maximumBodySize = 64 * 1024

    public static func read(from request: Request, context: some RequestContext) async throws -> RequestFields {
        if let contentType = request.headers[.contentType], !isJSON(contentType) {
            throw APIError(
                .unsupportedMediaType, "Content-Type must be application/json, got \"\(contentType.prefix(100))\"", field: "Content-Type")
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maximumBodySize)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "request body exceeds \(maximumBodySize) bytes")
        }
        let bytes = Array(buffer.readableBytesView)
        guard !bytes.isEmpty else { throw APIError.badRequest("request body is empty; send a JSON object") }
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw APIError.badRequest("request body is not valid JSON")
        }
        guard case .object(let members) = value else {
            throw APIError.badRequest("request body must be a JSON object, not \(value.typeName)")
        }
        return RequestFields(members: Dictionary(members, uniquingKeysWith: { _, last in last }))
    }

    /// `application/json`, `application/hal+json` or any other `…+json`, with any parameters. A
    /// request without a Content-Type is read as JSON too, as httpie's and the original
    /// frontend's always were.
    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard let mediaType else { return false }
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    public func contains(_ name: String) -> Bool { members[name] != nil }

    /// The first of `names` present in the body, so an alias (`roomId` for `movieId`) works.
    private func lookup(_ names: [String]) -> (name: String, value: JSONValue)? {
        for name in names { if let value = members[name] { return (name, value) } }
        return nil
    }

    /// An optional integer; `null` counts as absent.
    public func integer(_ name: String, aliases: [String] = []) throws -> Int64? {
        guard let (field, value) = lookup([name] + aliases) else { return nil }
        switch value {
        case .null: return nil
        case .integer(let number): return number
        case .number(let number) where number.rounded() == number && abs(number) < 9e15: return Int64(number)
        case .string(let text):
            if let number = Int64(text.trimmingCharacters(in: .whitespaces)) { return number }
            throw APIError.badRequest("\(field) must be an integer, got \"\(text)\"", field: field)
        default:
            throw APIError.badRequest("\(field) must be an integer, got \(value.typeName)", field: field)
        }
    }

    public func requiredInteger(_ name: String, aliases: [String] = []) throws -> Int64 {
        guard let value = try integer(name, aliases: aliases) else {
            throw APIError.badRequest("\(name) is required", field: name)
        }
        return value
    }

    /// An optional string; `null` counts as absent. Numbers and booleans are refused rather than
    /// silently turned into text.
    public func string(_ name: String) throws -> String? {
        guard let value = members[name] else { return nil }
        switch value {
        case .null: return nil
        case .string(let text): return text
        default: throw APIError.badRequest("\(name) must be a string, got \(value.typeName)", field: name)
        }
    }

    public func requiredString(_ name: String) throws -> String {
        guard let value = try string(name) else {
            throw APIError.badRequest("\(name) is required", field: name)
        }
        return value
    }

    /// A string that must be the raw value of one of `allowed` (all cases by default).
    public func choice<Choice: RawRepresentable & CaseIterable>(
        _ name: String, of type: Choice.Type, allowed: [Choice] = Array(Choice.allCases)
    ) throws -> Choice? where Choice.RawValue == String {
        guard let value = try string(name) else { return nil }
        guard let choice = Choice(rawValue: value), allowed.contains(where: { $0.rawValue == value }) else {
            let names = allowed.map(\.rawValue).joined(separator: ", ")
            throw APIError.badRequest("\(name) must be one of \(names), got \"\(value)\"", field: name)
        }
        return choice
    }
}

/// A path parameter that must be an item id; anything else is a 404, as for a missing item.
public func itemID(_ context: some RequestContext, name: String = "id") throws -> Int64 {
    guard let text = context.parameters.get(name), let id = Int64(text) else {
        throw APIError(.notFound, "no item with id \(context.parameters.get(name) ?? "")")
    }
    return id
}

/// A query parameter that must be an integer.
public func queryInteger(_ request: Request, _ name: String) throws -> Int64 {
    guard let text = request.uri.queryParameters[Substring(name)] else {
        throw APIError.badRequest("\(name) is required", field: name)
    }
    guard let value = Int64(text) else {
        throw APIError.badRequest("\(name) must be an integer, got \"\(text)\"", field: name)
    }
    return value
}
