import AsyncHTTPClient
import CinemaTesting
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MessageService
import MovieService
import NIOCore
import PaymentService
import Prometheus
import ReservationService
import Testing
import ViewpageService

/// One operation: `GET /movies/{id}`.
struct Operation: Hashable, Comparable, CustomStringConvertible {
    let method: String
    let path: String

    var description: String { "\(method) \(path)" }
    static func < (lhs: Operation, rhs: Operation) -> Bool { (lhs.path, lhs.method) < (rhs.path, rhs.method) }
}

/// The OpenAPI document the gateway serves, held to what the code really routes: the gateway's own router and, through
/// its routing table, each service's router as the runtime builds it. In both directions: a route the document misses
/// fails, and so does a documented operation nothing serves.
@Suite struct OpenAPIDocumentTests {
    /// The operation keys of an OpenAPI path item.
    static let operationKeys = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    static let services = [
        "movie": MovieService.definition, "payment": PaymentService.definition, "reservation": ReservationService.definition,
        "message": MessageService.definition, "viewpage": ViewpageService.definition,
    ]

    let configuration = GatewayConfiguration()

    func gatewayRouter() -> Router<GatewayRequestContext> {
        // With a registry, as the process runs it, so that /metrics is among the routes.
        buildGatewayRouter(configuration: configuration, httpClient: HTTPClient.shared, metrics: PrometheusCollectorRegistry())
    }

    /// The document as `GET /openapi.json` answers it.
    func servedDocument() async throws -> [String: Any] {
        let app = Application(router: gatewayRouter())
        return try await app.test(.router) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))
                return try #require(object as? [String: Any])
            }
        }
    }

    /// The documented operations, split by whether the document says the gateway refuses them (only a 405).
    func documentedOperations() async throws -> (served: Set<Operation>, refused: Set<Operation>) {
        let document = try await servedDocument()
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var served: Set<Operation> = []
        var refused: Set<Operation> = []
        for (path, item) in paths {
            for key in Self.operationKeys {
                guard let operation = item[key] as? [String: Any] else { continue }
                let responses = try #require(operation["responses"] as? [String: Any], "\(key) \(path) has no responses")
                let entry = Operation(method: key.uppercased(), path: path)
                if Array(responses.keys) == ["405"] { refused.insert(entry) } else { served.insert(entry) }
            }
        }
        return (served, refused)
    }

    /// What the code routes through the gateway: its own routes, and each service route below a routing-table prefix,
    /// seen under that prefix (so the `/movieViews` alias too); forwarded when the route takes its method, otherwise
    /// refused with 405 by the gateway. HEAD is left out: it goes with GET and the document does not list it.
    func routedOperations() async throws -> (served: Set<Operation>, refused: Set<Operation>) {
        var served = Set(gatewayRouter().routes.map { Operation(method: $0.method.rawValue, path: $0.path.description) })
        var refused: Set<Operation> = []
        for route in configuration.routes {
            // The dashboard's event stream is viewpage's, limited under a name of its own.
            let service = route.upstreamName == GatewayConfiguration.dashboardStreamUpstream ? "viewpage" : route.upstreamName
            let definition = try #require(Self.services[service], "no service named \(service)")
            let serviceRoutes = try await TestService(definition).router().routes
            for serviceRoute in serviceRoutes {
                let path = serviceRoute.path.description
                guard path == route.upstreamPrefix || path.hasPrefix(route.upstreamPrefix + "/") else { continue }
                let operation = Operation(
                    method: serviceRoute.method.rawValue, path: route.prefix + path.dropFirst(route.upstreamPrefix.count))
                if route.forwards(serviceRoute.method) { served.insert(operation) } else { refused.insert(operation) }
            }
        }
        return (served.filter { $0.method != "HEAD" }, refused.filter { $0.method != "HEAD" })
    }

    @Test func everyRoutedOperationIsDocumented() async throws {
        let documented = try await documentedOperations()
        let routed = try await routedOperations()
        #expect(routed.served.subtracting(documented.served).sorted() == [], "served but not documented")
        #expect(routed.refused.subtracting(documented.refused).sorted() == [], "refused with 405 but not documented so")
    }

    @Test func everyDocumentedOperationIsRouted() async throws {
        let documented = try await documentedOperations()
        let routed = try await routedOperations()
        #expect(documented.served.subtracting(routed.served).sorted() == [], "documented but not served")
        #expect(documented.refused.subtracting(routed.refused).sorted() == [], "documented as refused but not refused")
    }

    /// The comparison above must be able to fail: the routing table really reaches the services' routes.
    @Test func theComparisonSeesTheServices() async throws {
        let routed = try await routedOperations()
        #expect(routed.served.contains(Operation(method: "PATCH", path: "/reservations/{id}")))
        #expect(routed.served.contains(Operation(method: "GET", path: "/movieViews/{id}")))
        #expect(routed.served.contains(Operation(method: "GET", path: "/openapi.json")))
        #expect(routed.refused.contains(Operation(method: "POST", path: "/payments/voids")))
        #expect(!routed.served.contains { $0.path == "/ready" && $0.method != "GET" })
    }

    /// The document lists GET only and says HEAD is answered wherever GET is: every service's GET routes answer HEAD
    /// alike, without a body (they once answered 404, though the gateway's 405 on /payments says `Allow: GET, HEAD`).
    @Test(arguments: ["movie", "payment", "reservation", "message", "viewpage"])
    func headIsAnsweredWhereverGetIs(service: String) async throws {
        let testService = try await TestService(try #require(Self.services[service]))
        let router = try testService.router()
        let getPaths = router.routes.filter { $0.method == .get }.map(\.path.description)
        #expect(!getPaths.isEmpty)
        try await Application(router: router).test(.router) { client in
            // An event stream never ends: its GET would never finish here (its HEAD is tested below).
            for path in getPaths where !path.hasSuffix("metrics") && path != "/dashboard/events" {
                let uri =
                    path.replacingOccurrences(of: "{id}", with: "1").replacingOccurrences(of: "{asset}", with: "dashboard.js")
                    + (path.contains("/search/") || path.contains("/check/") ? "?rsvId=1&movieId=1" : "")
                let get = try await client.execute(uri: uri, method: .get) { $0.status }
                try await client.execute(uri: uri, method: .head) { response in
                    #expect(response.status == get, "HEAD \(uri)")
                    #expect(response.body.readableBytes == 0, "HEAD \(uri)")
                }
            }
        }
    }

    /// HEAD of the dashboard's endless event stream answers its head at once, without subscribing.
    @Test func headOfTheEventStreamEnds() async throws {
        let testService = try await TestService(ViewpageService.definition)
        try await Application(router: try testService.router()).test(.router) { client in
            try await client.execute(uri: "/dashboard/events", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/event-stream") == true)
                #expect(response.body.readableBytes == 0)
            }
        }
    }

    /// Each operation documented as refused is answered 405 with `Allow` by the real gateway, without an upstream.
    @Test func documentedRefusalsAreAnswered405() async throws {
        let refused = try await documentedOperations().refused
        #expect(!refused.isEmpty)
        let app = Application(router: gatewayRouter())
        try await app.test(.router) { client in
            for operation in refused {
                let uri = operation.path.replacingOccurrences(of: "{id}", with: "1")
                let method = try #require(HTTPRequest.Method(operation.method))
                try await client.execute(uri: uri, method: method, body: ByteBuffer(string: "{}")) { response in
                    #expect(response.status == .methodNotAllowed, "\(operation)")
                    #expect(response.headers[.allow] == "GET, HEAD", "\(operation)")
                }
            }
        }
    }
}
