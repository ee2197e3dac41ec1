public import CinemaJSON
public import HTTPTypes
public import Hummingbird
import Logging

/// The one error shape every service and the gateway answer with:
/// `{"status":400,"error":"Bad Request","message":"movieId must be an integer","field":"movieId","path":"/reservations"}`.
public struct APIError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var field: String?
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, field: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers
    }

    public static func badRequest(_ message: String, field: String? = nil) -> APIError {
        APIError(.badRequest, message, field: field)
    }

    public var description: String { "\(status.code) \(message)" }

    /// `path` is left out only when it is unknown, as for a request line the HTTP parser could not read.
    public func body(path: String?) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("status", .integer(Int64(status.code))),
            ("error", .string(status.reasonPhrase)),
            ("message", .string(message)),
        ]
        if let field { members.append(("field", .string(field))) }
        if let path { members.append(("path", .string(path))) }
        return .object(members)
    }

    /// The serialized body, for code below the router (a channel handler) that writes bytes itself.
    public func bodyBytes(path: String?) -> [UInt8] {
        body(path: path).serialized()
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response(path: request.uri.path)
    }

    public func response(path: String) -> Response {
        var response = JSONResponse.make(body(path: path), status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

/// An error of another layer (the domain's) that knows which `APIError` it is. The conversion is
/// written once per error type, and `JSONErrorMiddleware` is the one place that applies it.
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}

/// Turns an error that knows its `APIError` into it as it leaves the handler, so that middleware
/// between the handler and `JSONErrorMiddleware` (the request metrics) sees an HTTP error with
/// its real status rather than an unknown error, which it would take for a 500.
public struct APIErrorConversionMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any APIErrorConvertible {
            throw error.apiError
        }
    }
}

public enum JSONResponse {
    public static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok, contentType: String = "application/json") -> Response {
        let bytes = value.serialized()
        return Response(
            status: status,
            headers: [.contentType: contentType, .contentLength: String(bytes.count)],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}

/// Turns every error a handler lets through into the JSON error shape: API errors and errors that
/// convert to one as they say, framework errors keep their status, anything unexpected becomes a
/// logged 500 without internals in the body. Also gives unmatched routes a JSON 404.
public struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response(path: request.uri.path)
        } catch let error as any APIErrorConvertible {
            return error.apiError.response(path: request.uri.path)
        } catch let error as any HTTPResponseError {
            let message: String
            switch error.status {
            case .notFound: message = "no resource at \(request.uri.path)"
            case .methodNotAllowed: message = "\(request.method) is not supported on \(request.uri.path)"
            case .contentTooLarge: message = "request body is too large"
            default: message = (error as? HTTPError)?.body ?? error.status.reasonPhrase
            }
            // Keeps headers the thrower attached, such as Allow on 405 or Retry-After.
            var headers = HTTPFields()
            if let original = try? error.response(from: request, context: context) {
                for field in original.headers where field.name != .contentType && field.name != .contentLength {
                    headers.append(field)
                }
            }
            return APIError(error.status, message, headers: headers).response(path: request.uri.path)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)", "http.path": "\(request.uri.path)"])
            return APIError(.internalServerError, "internal error").response(path: request.uri.path)
        }
    }
}
