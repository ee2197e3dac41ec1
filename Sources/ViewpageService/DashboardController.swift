import CinemaHTTP
import CinemaJSON
import CinemaKit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The live dashboard: the page and its assets under `/dashboard/`, the stream of changes (`/dashboard/events`,
/// Server-Sent Events) and the snapshot a page starts from (`/dashboard/snapshot`). The readiness strip is the
/// gateway's (`/health/services`).
struct DashboardController: Controller {
    let stream: DashboardStream
    let assets: StaticAssets

    /// The page's policy: its own files only, no inline script, calls to its own origin.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        // The router treats `/dashboard` and `/dashboard/` as one path; the page names its assets absolutely.
        routes.get("/dashboard") { request, _ in try page("index.html", request) }
        routes.get("/dashboard/events") { request, _ in
            // HEAD (routed here by the router's HEAD-for-GET) gets the head alone: a stream would never end.
            if request.method == .head {
                return Response(status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache"])
            }
            guard let subscription = stream.hub.subscribe(lastEventID: request.headers[HTTPField.Name("Last-Event-ID")!]) else {
                throw APIError(.serviceUnavailable, "too many open dashboards on this replica", headers: [.retryAfter: "5"])
            }
            return subscription.response { try await stream.snapshot() }
        }
        routes.get("/dashboard/snapshot") { _, _ in
            let body = try await stream.snapshot()
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        routes.get("/dashboard/{asset}") { request, context in
            try page(context.parameters.require("asset"), request)
        }
    }

    private func page(_ name: String, _ request: Request) throws -> Response {
        var response = try assets.response(for: name, request: request)
        response.headers[HTTPField.Name("Content-Security-Policy")!] = Self.contentSecurityPolicy
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return response
    }
}
