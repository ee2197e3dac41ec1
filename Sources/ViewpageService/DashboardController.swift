import AsyncHTTPClient
import CinemaHTTP
import CinemaJSON
import CinemaKit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// The live dashboard: the page and its assets under `/dashboard/`, the stream of changes (`/dashboard/events`,
/// Server-Sent Events), and every service's readiness (`/dashboard/health`, which the browser can reach only through
/// the gateway, and viewpage can ask on the cluster network).
struct DashboardController: Controller {
    let stream: DashboardStream
    let assets: StaticAssets
    let health: HealthProbe

    /// The page's policy: its own files only, no inline script, calls to its own origin.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        // The router treats `/dashboard` and `/dashboard/` as one path; the page names its assets absolutely.
        routes.get("/dashboard") { request, _ in try page("index.html", request) }
        routes.get("/dashboard/events") { request, _ in
            guard let subscription = stream.hub.subscribe(lastEventID: request.headers[HTTPField.Name("Last-Event-ID")!]) else {
                throw APIError(.serviceUnavailable, "too many open dashboards on this replica", headers: [.retryAfter: "5"])
            }
            return subscription.response { try await stream.snapshot() }
        }
        routes.get("/dashboard/snapshot") { _, _ in
            let body = try await stream.snapshot()
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        routes.get("/dashboard/health") { _, _ in
            let body = await health.report().serialized()
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
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

/// Asks each service's `/ready` at once, each with a short timeout, so a slow service shows as such instead of hanging
/// the strip. The addresses are the `*_URL` settings the ConfigMap already sets (the first instance of a list).
struct HealthProbe: Sendable {
    let services: [(name: String, url: String)]
    let timeout: TimeAmount

    static func fromEnvironment(_ environment: [String: String], ownPort: Int) -> HealthProbe {
        let defaults = [
            ("payment", "PAYMENT_URL", 8081), ("movie", "MOVIE_URL", 8082), ("reservation", "RESERVATION_URL", 8083),
            ("message", "MESSAGE_URL", 8084),
        ]
        var services = defaults.map { name, variable, port in
            let list = environment[variable].map { $0.split { $0 == "," || $0.isWhitespace } } ?? []
            return (name, list.first.map(String.init) ?? "http://127.0.0.1:\(port)")
        }
        services.append(("viewpage", "http://127.0.0.1:\(ownPort)"))
        let milliseconds = environment["DASHBOARD_HEALTH_TIMEOUT_MS"].flatMap { Int64($0) }.flatMap { $0 > 0 ? $0 : nil } ?? 800
        return HealthProbe(services: services, timeout: .milliseconds(milliseconds))
    }

    func report() async -> JSONValue {
        let results = await withTaskGroup(of: (Int, JSONValue).self) { group in
            for (index, service) in services.enumerated() {
                group.addTask { (index, await probe(service.name, service.url)) }
            }
            var results: [(Int, JSONValue)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
        return .object([("services", .array(results))])
    }

    private func probe(_ name: String, _ url: String) async -> JSONValue {
        let started = ContinuousClock.now
        var status: String
        var detail: String?
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(url)/ready"), timeout: timeout)
            _ = try? await response.body.collect(upTo: 64 * 1024)
            status = response.status == .ok ? "ready" : "not ready"
            detail = response.status == .ok ? nil : "\(response.status.code)"
        } catch {
            status = "unreachable"
            detail =
                (error as? HTTPClientError) == .deadlineExceeded ? "no answer within \(timeout.nanoseconds / 1_000_000) ms" : "\(error)"
        }
        let elapsed = ContinuousClock.now - started
        return .object([
            ("name", .string(name)), ("status", .string(status)), ("detail", .string(detail)),
            ("ms", .integer(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)),
        ])
    }
}
