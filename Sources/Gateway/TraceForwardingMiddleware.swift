import CinemaHTTP
import CinemaTracing
import HTTPTypes
import Hummingbird

/// Runs inside ``ServerSpanMiddleware``, whose server span continues a valid incoming `traceparent` or starts
/// a new trace (an invalid one is ignored, never refused). This puts that span's context on the request as the only
/// `traceparent` the upstream sees, so the service's span is the gateway's child, and answers the trace in
/// `traceresponse` so that a client can find its request's saga (`make trace ID=`).
struct TraceForwardingMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let span = TraceParent.current else { return try await next(request, context) }
        var head = request.head
        // `tracestate` belongs to the incoming parent; it is dropped when that parent was not taken (invalid or
        // repeated), as the specification asks, so it never rides on a trace it was not part of.
        let continued =
            request.headers[values: .traceparent].count == 1
            && request.headers[.traceparent].flatMap(TraceParent.init(header:))?.traceID == span.traceID
        if !continued { head.headerFields[.tracestate] = nil }
        head.headerFields[.traceparent] = span.header
        var response = try await next(Request(head: head, body: request.body), context)
        response.headers[.traceresponse] = span.header
        return response
    }
}
