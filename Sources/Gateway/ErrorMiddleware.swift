import Foundation
import Hummingbird
import Logging

/// Turns every error thrown further in into the JSON shape Spring's error handler produced, so clients of the old
/// gateway keep parsing `{"status","error","message","path"}`.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            // The router's own 404 carries no message; it only happens when no route and no endpoint matched.
            let fallback = error.status == .notFound ? "no route for \(request.uri.path)" : error.status.reasonPhrase
            var response = ErrorBody.response(
                status: error.status,
                message: error.body ?? fallback,
                path: request.uri.path
            )
            // Keeps headers such as Allow on 405 or Retry-After that the thrower attached.
            for field in error.headers where response.headers[field.name] == nil {
                response.headers.append(field)
            }
            return response
        } catch {
            context.logger.error("Unexpected gateway error", metadata: ["error.message": "\(error)"])
            return ErrorBody.response(
                status: .internalServerError,
                message: "internal gateway error",
                path: request.uri.path
            )
        }
    }
}

enum ErrorBody {
    static func response(status: HTTPResponse.Status, message: String, path: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: self.json(status: status, message: message, path: path)))
        )
    }

    /// Built by hand because JSONEncoder does not promise key order and the documented shape starts with `status`.
    static func json(status: HTTPResponse.Status, message: String, path: String) -> String {
        #"{"status":\#(status.code),"error":\#(quoted(status.reasonPhrase)),"#
            + #""message":\#(quoted(message)),"path":\#(quoted(path))}"#
    }

    private static func quoted(_ value: String) -> String {
        var result = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case let control where control.value < 0x20:
                result += String(format: "\\u%04x", control.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
