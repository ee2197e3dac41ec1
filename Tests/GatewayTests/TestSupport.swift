import AsyncHTTPClient
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix

/// What the echo upstream saw, returned as its JSON body.
struct Echo: Codable, Sendable {
    var upstream: String
    var method: String
    var target: String
    /// Lower-cased field name to its values joined with ", ".
    var headers: [String: String]
    var bodyBytes: Int

    func header(_ name: String) -> String? { self.headers[name.lowercased()] }
}

/// Answers every request on its router, whatever the path or method, so upstreams need no route table.
struct CatchAll<Context: RequestContext>: RouterMiddleware {
    let respond: @Sendable (Request, Context) async throws -> Response

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        try await self.respond(request, context)
    }
}

enum Upstream {
    static func router(
        _ respond: @escaping @Sendable (Request, BasicRequestContext) async throws -> Response
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: CatchAll(respond: respond))
        return router
    }

    /// Reads the whole request and describes it as JSON. `calls` counts the requests that arrived, `completed` those
    /// whose body was read to its end (a streamed upload the gateway aborts arrives but never completes).
    static func echo(
        name: String,
        extraHeaders: HTTPFields = [:],
        calls: Counter? = nil,
        completed: Counter? = nil
    ) -> Router<BasicRequestContext> {
        self.router { request, _ in
            calls?.increment()
            var headers: [String: String] = [:]
            for field in request.headers {
                let name = field.name.canonicalName
                headers[name] = headers[name].map { "\($0), \(field.value)" } ?? field.value
            }
            if let authority = request.head.authority { headers["host"] = authority }
            var bytes = 0
            for try await buffer in request.body { bytes += buffer.readableBytes }
            completed?.increment()
            let echo = Echo(
                upstream: name,
                method: request.method.rawValue,
                target: request.uri.description,
                headers: headers,
                bodyBytes: bytes
            )
            var responseHeaders = extraHeaders
            responseHeaders[.contentType] = "application/json"
            return Response(
                status: .ok,
                headers: responseHeaders,
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(echo)))
            )
        }
    }

    /// Sends the request body straight back, chunk by chunk, without collecting it.
    static func mirror() -> Router<BasicRequestContext> {
        self.router { request, _ in
            var headers: HTTPFields = [:]
            headers[HTTPField.Name("X-Seen-Content-Length")!] = request.headers[.contentLength] ?? "none"
            headers[HTTPField.Name("X-Seen-Transfer-Encoding")!] = request.headers[.transferEncoding] ?? "none"
            return Response(status: .ok, headers: headers, body: ResponseBody(asyncSequence: request.body))
        }
    }
}

/// Runs `router` as a real server on a free loopback port while `body` runs.
func withUpstream<Value: Sendable>(
    _ router: Router<BasicRequestContext>,
    _ body: @Sendable (_ port: Int) async throws -> Value
) async throws -> Value {
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        logger: testLogger("upstream")
    )
    return try await app.test(.live) { client in try await body(client.port!) }
}

/// A loopback port that was just listened on and is closed now, so connecting to it is refused.
func closedPort() async throws -> Int {
    try await withUpstream(Upstream.router { _, _ in Response(status: .ok) }) { $0 }
}

func url(_ port: Int) -> String { "http://127.0.0.1:\(port)" }

func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error
    return logger
}

/// Runs a gateway over `routes` with its own HTTP client, shut down afterwards whatever happens.
func withGateway<Value: Sendable>(
    routes: [GatewayRoute],
    upstreamTimeout: Duration = .seconds(10),
    maxBodySize: Int = 16 * 1024 * 1024,
    idleTimeout: Duration = .seconds(60),
    testing setup: TestingSetup = .live,
    _ body: @Sendable (any TestClientProtocol) async throws -> Value
) async throws -> Value {
    let configuration = GatewayConfiguration(
        host: "127.0.0.1",
        port: 0,
        routes: routes,
        upstreamTimeout: upstreamTimeout,
        maxBodySize: maxBodySize,
        idleTimeout: idleTimeout
    )
    let httpClient = HTTPClient(
        eventLoopGroup: .singletonMultiThreadedEventLoopGroup,
        configuration: .gateway(for: configuration)
    )
    let app = buildGatewayApplication(
        configuration: configuration,
        httpClient: httpClient,
        logger: testLogger("gateway")
    )
    let result: Result<Value, any Error>
    do {
        result = .success(try await app.test(setup, body))
    } catch {
        result = .failure(error)
    }
    try await httpClient.shutdown()
    return try result.get()
}

/// A plain client for what the test frameworks cannot send, such as a chunked upload.
func withClient<Value: Sendable>(_ body: (HTTPClient) async throws -> Value) async throws -> Value {
    let client = HTTPClient(
        eventLoopGroup: .singletonMultiThreadedEventLoopGroup,
        configuration: .init(redirectConfiguration: .disallow)
    )
    let result: Result<Value, any Error>
    do {
        result = .success(try await body(client))
    } catch {
        result = .failure(error)
    }
    try await client.shutdown()
    return try result.get()
}

extension TestResponse {
    func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(type, from: Data(self.body.readableBytesView))
    }

    var bodyString: String { String(buffer: self.body) }
}
