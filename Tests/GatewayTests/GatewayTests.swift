import AsyncHTTPClient
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

extension HTTPField.Name {
    static let correlationID = Self("X-Correlation-Id")!
}

@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaultsMatchTheLocalPorts() {
        let configuration = GatewayConfiguration.fromEnvironment([:])
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8088)
        #expect(configuration.upstreamTimeout == .seconds(10))
        #expect(configuration.route(forPath: "/payments/1")?.upstream == "http://127.0.0.1:8081")
        #expect(configuration.route(forPath: "/check")?.upstream == "http://127.0.0.1:8082")
        #expect(configuration.route(forPath: "/movieViews")?.upstream == "http://127.0.0.1:8085")
    }

    @Test func environmentOverridesDefaults() {
        let configuration = GatewayConfiguration.fromEnvironment([
            "HOST": "0.0.0.0", "PORT": "9000", "MOVIE_URL": "http://movie:8080/",
            "GATEWAY_UPSTREAM_TIMEOUT_MS": "2500", "PAYMENT_URL": "",
        ])
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 9000)
        #expect(configuration.upstreamTimeout == .milliseconds(2500))
        let reviews = configuration.route(forPath: "/reviews")
        #expect(reviews?.upstreamURL(forTarget: "/reviews?m=1") == "http://movie:8080/reviews?m=1")
        #expect(configuration.route(forPath: "/payments")?.upstream == "http://127.0.0.1:8081")
    }

    @Test func unparsableNumbersFallBackToDefaults() {
        let configuration = GatewayConfiguration.fromEnvironment([
            "PORT": "eighty", "GATEWAY_UPSTREAM_TIMEOUT_MS": "-1",
        ])
        #expect(configuration.port == 8088)
        #expect(configuration.upstreamTimeout == .seconds(10))
    }

    @Test(arguments: [
        ("/movies", true), ("/movies/1", true), ("/movies/", true), ("/moviesx", false), ("/movie", false),
        ("/api/movies", false),
    ])
    func prefixMatchesWholeSegments(path: String, matches: Bool) {
        let route = GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: "http://x")
        #expect(route.matches(path: path) == matches)
    }
}

@Suite("Gateway")
struct GatewayTests {
    @Test func healthAndReadinessAreAnsweredByTheGateway() async throws {
        try await withGateway(routes: [], testing: .router) { client in
            for probe in ["/health", "/ready"] {
                let response = try await client.execute(uri: probe, method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.bodyString == #"{"status":"UP","service":"gateway"}"#)
            }
        }
    }

    @Test func unknownPrefixIsA404JSON() async throws {
        let routes = GatewayConfiguration.cinemaRoutes(movieURL: url(try await closedPort()))
        try await withGateway(routes: routes, testing: .router) { client in
            for path in ["/nothing/here", "/moviesx"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/json")
                #expect(
                    response.bodyString
                        == #"{"status":404,"error":"Not Found","message":"no resource at \#(path)","path":"\#(path)"}"#
                )
            }
        }
    }

    @Test func routesEachPrefixToItsUpstream() async throws {
        try await withUpstream(Upstream.echo(name: "payment")) { payment in
            try await withUpstream(Upstream.echo(name: "movie")) { movie in
                try await withUpstream(Upstream.echo(name: "reservation")) { reservation in
                    try await withUpstream(Upstream.echo(name: "message")) { message in
                        try await withUpstream(Upstream.echo(name: "viewpage")) { viewpage in
                            let routes = GatewayConfiguration.cinemaRoutes(
                                paymentURL: url(payment),
                                movieURL: url(movie),
                                reservationURL: url(reservation),
                                messageURL: url(message),
                                viewpageURL: url(viewpage)
                            )
                            try await withGateway(routes: routes) { client in
                                let cases: [(path: String, upstream: String, target: String)] = [
                                    ("/payments", "payment", "/payments"),
                                    ("/payments/42", "payment", "/payments/42"),
                                    ("/movies", "movie", "/movies"),
                                    ("/movies/1", "movie", "/movies/1"),
                                    ("/movies?page=0&size=5", "movie", "/movies?page=0&size=5"),
                                    ("/movies?title=Star%20Wars&q=a%2Bb", "movie", "/movies?title=Star%20Wars&q=a%2Bb"),
                                    ("/reviews/3", "movie", "/reviews/3"),
                                    ("/check?movieId=1", "movie", "/check?movieId=1"),
                                    ("/reservations/7/seats", "reservation", "/reservations/7/seats"),
                                    ("/messages", "message", "/messages"),
                                    ("/movieviews/2", "viewpage", "/movieviews/2"),
                                    ("/movieViews", "viewpage", "/movieviews"),
                                    ("/movieViews/2?sort=title", "viewpage", "/movieviews/2?sort=title"),
                                ]
                                for testCase in cases {
                                    let response = try await client.execute(uri: testCase.path, method: .get)
                                    #expect(response.status == .ok, "\(testCase.path)")
                                    let echo = try response.decode(Echo.self)
                                    #expect(echo.upstream == testCase.upstream, "\(testCase.path)")
                                    #expect(echo.target == testCase.target, "\(testCase.path)")
                                    #expect(echo.method == "GET")
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func upstreamStatusAndBodyPassThroughUntouched() async throws {
        let upstream = Upstream.router { request, _ in
            if request.uri.path == "/movies/old" {
                return Response(status: .found, headers: [.location: "/movies/new"])
            }
            return Response(
                status: .notFound,
                headers: [.contentType: "application/hal+json", .location: "/x"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"title":"no such movie"}"#))
            )
        }
        try await withUpstream(upstream) { port in
            let routes = [GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: url(port))]
            try await withGateway(routes: routes) { client in
                let missing = try await client.execute(uri: "/movies/99", method: .get)
                #expect(missing.status == .notFound)
                #expect(missing.headers[.contentType] == "application/hal+json")
                #expect(missing.bodyString == #"{"title":"no such movie"}"#)

                // The browser follows redirects, not the gateway.
                let moved = try await client.execute(uri: "/movies/old", method: .get)
                #expect(moved.status == .found)
                #expect(moved.headers[.location] == "/movies/new")
            }
        }
    }

    @Test func largeBodyStreamsThroughBothWays() async throws {
        let payload = ByteBuffer(bytes: (0..<(1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 10) })
        try await withUpstream(Upstream.mirror()) { port in
            let routes = [GatewayRoute(prefix: "/reservations", upstreamName: "reservation", upstream: url(port))]
            try await withGateway(routes: routes) { client in
                let response = try await client.execute(
                    uri: "/reservations",
                    method: .post,
                    headers: [.contentType: "application/octet-stream"],
                    body: payload
                )
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("X-Seen-Content-Length")!] == "1048576")
                #expect(response.headers[HTTPField.Name("X-Seen-Transfer-Encoding")!] == "none")
                #expect(response.body == payload)
            }
        }
    }

    @Test func chunkedUploadStaysChunked() async throws {
        let chunks = (0..<64).map { index in ByteBuffer(repeating: UInt8(index), count: 16 * 1024) }
        try await withUpstream(Upstream.mirror()) { port in
            let routes = [GatewayRoute(prefix: "/payments", upstreamName: "payment", upstream: url(port))]
            try await withGateway(routes: routes) { gateway in
                try await withClient { client in
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(gateway.port!)/payments/upload")
                    request.method = .PUT
                    let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
                    for chunk in chunks { continuation.yield(chunk) }
                    continuation.finish()
                    request.body = .stream(stream, length: .unknown)
                    let response = try await client.execute(request, timeout: .seconds(30))
                    #expect(response.status == .ok)
                    #expect(response.headers.first(name: "X-Seen-Transfer-Encoding") == "chunked")
                    #expect(response.headers.first(name: "X-Seen-Content-Length") == "none")
                    let body = try await response.body.collect(upTo: 2 * 1024 * 1024)
                    #expect(body == chunks.reduce(into: ByteBuffer()) { $0.writeImmutableBuffer($1) })
                }
            }
        }
    }

    /// An upstream may answer before it has read the request (a 401, a 413, or simply "accepted"). The gateway
    /// must not let Hummingbird skip the unread body while the upload to the upstream is still reading it.
    @Test func upstreamAnsweringBeforeTheUploadEnds() async throws {
        let upstream = Upstream.router { _, _ in
            Response(status: .accepted, body: ResponseBody(byteBuffer: ByteBuffer(string: "early")))
        }
        try await withUpstream(upstream) { port in
            let routes = [GatewayRoute(prefix: "/reservations", upstreamName: "reservation", upstream: url(port))]
            try await withGateway(routes: routes) { gateway in
                try await withClient { client in
                    for _ in 0..<3 {
                        var request = HTTPClientRequest(url: "http://127.0.0.1:\(gateway.port!)/reservations")
                        request.method = .POST
                        let (stream, upload) = AsyncStream<ByteBuffer>.makeStream()
                        upload.yield(ByteBuffer(repeating: 1, count: 4096))
                        request.body = .stream(stream, length: .unknown)
                        let response = try await client.execute(request, timeout: .seconds(30))
                        #expect(response.status == .accepted)
                        let body = try await response.body.collect(upTo: 1024)
                        #expect(String(buffer: body) == "early")
                        // Only now does the rest of the upload arrive, after the gateway finished its response.
                        upload.yield(ByteBuffer(repeating: 2, count: 4096))
                        upload.finish()
                    }
                    let health = try await client.execute(
                        HTTPClientRequest(url: "http://127.0.0.1:\(gateway.port!)/health"),
                        timeout: .seconds(30)
                    )
                    #expect(health.status == .ok)
                }
            }
        }
    }

    @Test func oversizedBodiesAreRejectedWithoutContactingTheUpstream() async throws {
        let calls = Counter()
        let upstream = Upstream.router { request, _ in
            calls.increment()
            for try await _ in request.body {}
            return Response(status: .ok)
        }
        try await withUpstream(upstream) { port in
            let routes = [GatewayRoute(prefix: "/messages", upstreamName: "message", upstream: url(port))]
            try await withGateway(routes: routes, maxBodySize: 1000) { client in
                let response = try await client.execute(
                    uri: "/messages",
                    method: .post,
                    body: ByteBuffer(repeating: 0x41, count: 1001)
                )
                #expect(response.status == .contentTooLarge)
                #expect(try response.decode([String: JSONScalar].self)["status"] == .int(413))
                #expect(calls.value == 0)
            }
        }
    }

    @Test func oversizedChunkedUploadIsCutOff() async throws {
        // The echo upstream answers only after the whole body, so the limit is always hit before a response exists.
        try await withUpstream(Upstream.echo(name: "message")) { port in
            let routes = [GatewayRoute(prefix: "/messages", upstreamName: "message", upstream: url(port))]
            try await withGateway(routes: routes, maxBodySize: 100_000) { gateway in
                try await withClient { client in
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(gateway.port!)/messages")
                    request.method = .POST
                    let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
                    for _ in 0..<16 { continuation.yield(ByteBuffer(repeating: 0x42, count: 16 * 1024)) }
                    continuation.finish()
                    request.body = .stream(stream, length: .unknown)
                    let response = try await client.execute(request, timeout: .seconds(30))
                    #expect(response.status == .payloadTooLarge)
                    let body = try await response.body.collect(upTo: 64 * 1024)
                    #expect(String(buffer: body).contains(#""status":413"#))
                }
            }
        }
    }

    @Test func hopByHopHeadersAreStrippedBothWays() async throws {
        let upstream = Upstream.echo(
            name: "movie",
            extraHeaders: [
                .connection: "X-Upstream-Hop",
                HTTPField.Name("X-Upstream-Hop")!: "1",
                HTTPField.Name("Keep-Alive")!: "timeout=5",
                HTTPField.Name("Proxy-Authenticate")!: "Basic realm=upstream",
                HTTPField.Name("Trailer")!: "X-Checksum",
                HTTPField.Name("X-End-To-End")!: "kept",
            ]
        )
        try await withUpstream(upstream) { port in
            let routes = [GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: url(port))]
            // AsyncHTTPClient as the test client because the live test client overwrites Connection.
            try await withGateway(routes: routes, testing: .ahc(.http)) { client in
                let response = try await client.execute(
                    uri: "/movies",
                    method: .get,
                    headers: [
                        .connection: "keep-alive, X-Client-Hop",
                        HTTPField.Name("X-Client-Hop")!: "1",
                        HTTPField.Name("Keep-Alive")!: "timeout=5",
                        .te: "trailers",
                        HTTPField.Name("Trailer")!: "X-Checksum",
                        .proxyAuthorization: "Basic Zm9vOmJhcg==",
                        HTTPField.Name("Proxy-Connection")!: "keep-alive",
                        .upgrade: "websocket",
                        HTTPField.Name("X-End-To-End")!: "kept",
                    ]
                )
                #expect(response.status == .ok)
                let echo = try response.decode(Echo.self)
                for name in [
                    "x-client-hop", "keep-alive", "te", "trailer", "proxy-authorization", "proxy-connection",
                    "upgrade", "transfer-encoding",
                ] {
                    #expect(echo.header(name) == nil, "\(name) reached the upstream")
                }
                #expect(echo.header("connection")?.lowercased().contains("x-client-hop") != true)
                #expect(echo.header("x-end-to-end") == "kept")
                #expect(echo.header("host") == "127.0.0.1:\(port)")

                for name in ["X-Upstream-Hop", "Keep-Alive", "Proxy-Authenticate", "Trailer"] {
                    #expect(response.headers[HTTPField.Name(name)!] == nil, "\(name) reached the client")
                }
                #expect(response.headers[.connection]?.lowercased().contains("x-upstream-hop") != true)
                #expect(response.headers[HTTPField.Name("X-End-To-End")!] == "kept")
            }
        }
    }

    @Test func forwardedHeadersDescribeTheClientsView() async throws {
        try await withUpstream(Upstream.echo(name: "movie")) { port in
            let routes = [GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: url(port))]
            // The AsyncHTTPClient test client sends Host: localhost:<port>, as a browser would.
            try await withGateway(routes: routes, testing: .ahc(.http)) { client in
                let gatewayPort = try #require(client.port)
                let echo = try await client.execute(uri: "/movies/1", method: .get).decode(Echo.self)
                #expect(echo.header("x-forwarded-host") == "localhost:\(gatewayPort)")
                #expect(echo.header("x-forwarded-proto") == "http")
                #expect(echo.header("x-forwarded-port") == "\(gatewayPort)")
                #expect(echo.header("x-forwarded-for") == "127.0.0.1")
                #expect(echo.header("host") == "127.0.0.1:\(port)")

                let behindProxy = try await client.execute(
                    uri: "/movies/1",
                    method: .get,
                    headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.7"]
                ).decode(Echo.self)
                #expect(behindProxy.header("x-forwarded-for") == "203.0.113.7, 127.0.0.1")
            }
        }
    }

    @Test func correlationIDIsGeneratedWhenMissing() async throws {
        try await withUpstream(Upstream.echo(name: "payment")) { port in
            let routes = [GatewayRoute(prefix: "/payments", upstreamName: "payment", upstream: url(port))]
            try await withGateway(routes: routes) { client in
                let response = try await client.execute(uri: "/payments", method: .get)
                let generated = try #require(response.headers[.correlationID])
                #expect(UUID(uuidString: generated) != nil)
                #expect(try response.decode(Echo.self).header("x-correlation-id") == generated)

                let another = try await client.execute(uri: "/payments", method: .get)
                #expect(another.headers[.correlationID] != generated)

                // The gateway's own answers carry one too.
                let notFound = try await client.execute(uri: "/nowhere", method: .get)
                #expect(notFound.headers[.correlationID].flatMap(UUID.init(uuidString:)) != nil)
            }
        }
    }

    @Test func correlationIDIsPassedThroughWhenPresent() async throws {
        try await withUpstream(Upstream.echo(name: "payment")) { port in
            let routes = [GatewayRoute(prefix: "/payments", upstreamName: "payment", upstream: url(port))]
            try await withGateway(routes: routes) { client in
                let response = try await client.execute(
                    uri: "/payments/1",
                    method: .get,
                    headers: [.correlationID: "order-4711"]
                )
                #expect(response.headers[.correlationID] == "order-4711")
                #expect(try response.decode(Echo.self).header("x-correlation-id") == "order-4711")
            }
        }
    }

    @Test func preflightIsAnsweredByTheGateway() async throws {
        // The upstream is down: only the gateway can have produced a 200.
        let routes = [GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: url(try await closedPort()))]
        try await withGateway(routes: routes, testing: .router) { client in
            let response = try await client.execute(
                uri: "/movies/1",
                method: .options,
                headers: [
                    .origin: "http://localhost:3000",
                    .accessControlRequestMethod: "DELETE",
                    .accessControlRequestHeaders: "content-type, x-correlation-id",
                ]
            )
            #expect(response.status == .ok)
            #expect(response.headers[.accessControlAllowOrigin] == "http://localhost:3000")
            #expect(response.headers[.accessControlAllowCredentials] == "true")
            #expect(response.headers[.accessControlAllowMethods] == "DELETE")
            #expect(response.headers[.accessControlAllowHeaders] == "content-type, x-correlation-id")
            #expect(response.headers[.vary]?.contains("Origin") == true)
        }
    }

    @Test func corsHeadersAreAddedToProxiedAndErrorResponses() async throws {
        // A service with its own CORS setup must not lead to two Access-Control-Allow-Origin values.
        let upstream = Upstream.echo(name: "movie", extraHeaders: [.accessControlAllowOrigin: "*"])
        try await withUpstream(upstream) { port in
            let routes = [GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: url(port))]
            try await withGateway(routes: routes) { client in
                let origin: HTTPFields = [.origin: "http://localhost:3000"]
                let proxied = try await client.execute(uri: "/movies", method: .get, headers: origin)
                #expect(proxied.status == .ok)
                #expect(proxied.headers[values: .accessControlAllowOrigin] == ["http://localhost:3000"])
                #expect(proxied.headers[.accessControlAllowCredentials] == "true")
                #expect(proxied.headers[.accessControlExposeHeaders]?.contains("X-Correlation-Id") == true)

                let missing = try await client.execute(uri: "/elsewhere", method: .get, headers: origin)
                #expect(missing.status == .notFound)
                #expect(missing.headers[.accessControlAllowOrigin] == "http://localhost:3000")

                let withoutOrigin = try await client.execute(uri: "/movies", method: .get)
                #expect(withoutOrigin.headers[values: .accessControlAllowOrigin] == ["*"])
            }
        }
    }

    @Test func refusedConnectionIsA502JSON() async throws {
        let port = try await closedPort()
        let routes = [GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: url(port))]
        try await withGateway(routes: routes) { client in
            let response = try await client.execute(uri: "/movies?page=1", method: .get)
            #expect(response.status == .badGateway)
            #expect(response.headers[.contentType] == "application/json")
            #expect(
                response.bodyString
                    == #"{"status":502,"error":"Bad Gateway","#
                    + #""message":"upstream movie (http://127.0.0.1:\#(port)) is unreachable","path":"/movies"}"#
            )
            #expect(response.headers[.correlationID] != nil)
        }
    }

    @Test func slowUpstreamIsA504JSON() async throws {
        let (released, release) = AsyncStream<Void>.makeStream()
        // Deliberately slow: holds the response until the test has seen the gateway give up.
        let upstream = Upstream.router { _, _ in
            for await _ in released {}
            return Response(status: .ok)
        }
        try await withUpstream(upstream) { port in
            defer { release.finish() }
            let routes = [GatewayRoute(prefix: "/reservations", upstreamName: "reservation", upstream: url(port))]
            try await withGateway(routes: routes, upstreamTimeout: .milliseconds(300)) { client in
                let started = ContinuousClock.now
                let response = try await client.execute(uri: "/reservations/1", method: .get)
                let elapsed = ContinuousClock.now - started
                #expect(response.status == .gatewayTimeout)
                #expect(
                    response.bodyString
                        == #"{"status":504,"error":"Gateway Timeout","#
                        + #""message":"upstream reservation (http://127.0.0.1:\#(port)) "#
                        + #"did not respond within 300 ms","#
                        + #""path":"/reservations/1"}"#
                )
                #expect(elapsed >= .milliseconds(300))
                #expect(elapsed < .seconds(5))
            }
        }
    }
}

/// Counts upstream calls across the server's tasks.
final class Counter: Sendable {
    private let storage = Mutex(0)
    var value: Int { self.storage.withLock { $0 } }
    func increment() { self.storage.withLock { $0 += 1 } }
}

/// Enough of JSON to compare the scalar fields of an error body.
enum JSONScalar: Decodable, Equatable {
    case int(Int)
    case string(String)

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let int = try? container.decode(Int.self) {
            self = .int(int)
        } else {
            self = .string(try container.decode(String.self))
        }
    }
}
