import Foundation
import HTTPTypes
import Hummingbird

/// CORS as the Spring Cloud Gateway globalcors config had it: every origin, method and header, with credentials.
///
/// Hummingbird's `CORSMiddleware` needs fixed method and header lists, but "any header" with credentials cannot
/// be written as `*` (browsers take it literally when credentials are allowed), so the preflight echoes what the
/// browser asked for, as Spring does. A route restricted to some methods (payments) advertises exactly those instead:
/// the preflight still succeeds, but a browser then refuses to send a blocked method and reports it as not allowed.
struct GatewayCORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let configuration: GatewayConfiguration
    /// Spring's default preflight cache time.
    var maxAgeSeconds = 1800

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        // "null" is what sandboxed frames and file: pages send; echoing it with credentials would let any of them in.
        guard let origin = request.headers[.origin], origin != "null" else {
            return try await next(request, context)
        }
        if request.method == .options, let requestedMethod = request.headers[.accessControlRequestMethod] {
            var headers: HTTPFields = [
                .accessControlAllowOrigin: origin,
                .accessControlAllowMethods: self.configuration.route(forPath: request.uri.path)?.allowHeaderValue ?? requestedMethod,
                .accessControlAllowCredentials: "true",
                .accessControlMaxAge: String(self.maxAgeSeconds),
                .vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ]
            if let requestedHeaders = request.headers[.accessControlRequestHeaders] {
                headers[.accessControlAllowHeaders] = requestedHeaders
            }
            return Response(status: .ok, headers: headers)
        }
        var response = try await next(request, context)
        // Replaces rather than adds: a service with its own CORS setup must not produce duplicate values,
        // which browsers reject.
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlAllowCredentials] = "true"
        // Lets browser code read the ids it needs to report a problem or follow a created item.
        response.headers[.accessControlExposeHeaders] = "X-Correlation-Id, Location, Retry-After"
        let varies = response.headers[values: .vary].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if !varies.contains("origin"), !varies.contains("*") {
            response.headers.append(HTTPField(name: .vary, value: "Origin"))
        }
        return response
    }
}
