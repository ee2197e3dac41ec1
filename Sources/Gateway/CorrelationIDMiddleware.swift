import CinemaHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Gives every request a correlation id so that one call can be followed through the services' logs: the client's
/// own when it sent a usable one, otherwise a fresh UUID. The proxy forwards the (possibly new) header upstream and the
/// response echoes it, also for errors the gateway answers itself.
struct CorrelationIDMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let sent = request.headers[values: .correlationID].first(where: Self.isUsable)
        let correlationID = sent ?? UUID().uuidString.lowercased()
        // Collapses repeated headers too, so upstream sees exactly the id that is echoed back.
        var head = request.head
        head.headerFields[.correlationID] = correlationID
        let request = Request(head: head, body: request.body)
        var context = context
        context.logger[metadataKey: "correlation.id"] = .string(correlationID)
        var response = try await next(request, context)
        response.headers[.correlationID] = correlationID
        return response
    }

    /// The id travels into every log line and the Kafka headers of the events the request causes, so a client's id is
    /// taken only when it is short, visible ASCII.
    static func isUsable(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count) && id.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }
}
