import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Payments are written by the reservation service and refunded through events: through the gateway they are read-only.
@Suite("Route methods")
struct RouteMethodTests {
    static let paymentPaths = ["/payments", "/payments/1", "/payments/search/findByRsvId?rsvId=1"]

    @Test(arguments: [HTTPRequest.Method.post, .put, .patch, .delete, .options], paymentPaths)
    func paymentWritesAre405WithoutReachingThePaymentService(method: HTTPRequest.Method, target: String) async throws {
        let calls = Counter()
        try await withUpstream(Upstream.echo(name: "payment", calls: calls)) { port in
            try await withGateway(routes: GatewayConfiguration.cinemaRoutes(paymentURL: url(port))) { client in
                let response = try await client.execute(
                    uri: target,
                    method: method,
                    headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"rsvId":1,"movieId":1,"status":"paid"}"#)
                )
                let path = target.prefix { $0 != "?" }
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
                #expect(response.headers[.contentType] == "application/json")
                #expect(
                    response.bodyString
                        == #"{"status":405,"error":"Method Not Allowed","#
                        + #""message":"\#(method) is not allowed on /payments through the gateway; allowed: GET, HEAD","#
                        + #""path":"\#(path)"}"#
                )
                #expect(calls.value == 0)
            }
        }
    }

    @Test(arguments: [HTTPRequest.Method.get, .head], paymentPaths)
    func paymentReadsAreForwarded(method: HTTPRequest.Method, target: String) async throws {
        let calls = Counter()
        try await withUpstream(Upstream.echo(name: "payment", calls: calls)) { port in
            try await withGateway(routes: GatewayConfiguration.cinemaRoutes(paymentURL: url(port))) { client in
                let response = try await client.execute(uri: target, method: method)
                #expect(response.status == .ok)
                if method == .get {
                    #expect(try response.decode(Echo.self).target == target)
                }
                #expect(calls.value == 1)
            }
        }
    }

    @Test(arguments: ["POST", "DELETE", "GET"])
    func paymentPreflightsAdvertiseOnlyReads(requestedMethod: String) async throws {
        let calls = Counter()
        try await withUpstream(Upstream.echo(name: "payment", calls: calls)) { port in
            try await withGateway(routes: GatewayConfiguration.cinemaRoutes(paymentURL: url(port))) { client in
                let response = try await client.execute(
                    uri: "/payments/1",
                    method: .options,
                    headers: [.origin: "http://localhost:3000", .accessControlRequestMethod: requestedMethod]
                )
                // The preflight succeeds but lists only GET and HEAD, so a browser never sends the write.
                #expect(response.status == .ok)
                #expect(response.headers[.accessControlAllowMethods] == "GET, HEAD")
                #expect(response.headers[.accessControlAllowOrigin] == "http://localhost:3000")
                #expect(calls.value == 0)
            }
        }
    }

    @Test func methodsComeFromTheEnvironment() async throws {
        let calls = Counter()
        try await withUpstream(Upstream.echo(name: "any", calls: calls)) { port in
            let configuration = GatewayConfiguration.fromEnvironment([
                "MOVIE_URL": url(port), "PAYMENT_URL": url(port), "MOVIE_METHODS": "get, head", "PAYMENT_METHODS": "*",
            ])
            try await withGateway(routes: configuration.routes) { client in
                let refused = try await client.execute(uri: "/reviews", method: .post, body: ByteBuffer(string: "{}"))
                #expect(refused.status == .methodNotAllowed)
                #expect(refused.headers[.allow] == "GET, HEAD")
                #expect(calls.value == 0)
                let opened = try await client.execute(uri: "/payments", method: .post, body: ByteBuffer(string: "{}"))
                #expect(opened.status == .ok)
                #expect(try opened.decode(Echo.self).method == "POST")
                #expect(calls.value == 1)
            }
        }
    }

    @Test(
        arguments: [
            (nil, Set<HTTPRequest.Method>?.some([.get, .head])),
            ("GET,HEAD,POST", [.get, .head, .post]),
            (" get  head ", [.get, .head]),
            ("*", nil),
            ("GET;HEAD", [.get, .head]),  // unreadable: the default stays
            ("", [.get, .head]),
        ] as [(String?, Set<HTTPRequest.Method>?)])
    func paymentMethodsVariable(value: String?, expected: Set<HTTPRequest.Method>?) {
        let environment = value.map { ["PAYMENT_METHODS": $0] } ?? [:]
        let configuration = GatewayConfiguration.fromEnvironment(environment)
        #expect(configuration.route(forPath: "/payments/1")?.methods == expected)
        // The other routes forward everything unless told otherwise.
        for path in ["/movies", "/reviews", "/check", "/reservations", "/messages", "/movieviews", "/movieViews"] {
            #expect(configuration.route(forPath: path)?.methods == nil, "\(path)")
        }
    }

    @Test func allowListsMethodsInTheirUsualOrder() throws {
        let propfind = try #require(HTTPRequest.Method("PROPFIND"))
        #expect(HTTPMethodList.describe([.delete, propfind, .head, .get]) == "GET, HEAD, DELETE, PROPFIND")
        let route = GatewayRoute(prefix: "/p", upstreamName: "p", upstream: "http://p", methods: [.get])
        #expect(route.forwards(.get))
        #expect(!route.forwards(.head))
        #expect(route.allowHeaderValue == "GET")
        #expect(GatewayRoute(prefix: "/p", upstreamName: "p", upstream: "http://p").allowHeaderValue == nil)
    }
}
