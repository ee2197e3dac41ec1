import AsyncHTTPClient
import CinemaHTTP
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Forwards requests whose path matches a route to that route's upstream and streams the answer back;
/// everything else goes on to the router (`/health`, or the 404).
struct ProxyMiddleware<Context: RemoteAddressRequestContext>: RouterMiddleware {
    let configuration: GatewayConfiguration
    let httpClient: HTTPClient

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let route = self.configuration.route(forPath: request.uri.path) else {
            return try await next(request, context)
        }
        // Checked before anything is read or sent, so a refused request never reaches the upstream.
        if let allowed = route.allowHeaderValue, !route.forwards(request.method) {
            throw APIError(
                .methodNotAllowed,
                "\(request.method) is not allowed on \(route.prefix) through the gateway; allowed: \(allowed)",
                headers: [.allow: allowed]
            )
        }
        return try await self.forward(request, to: route, context: context)
    }

    private func forward(_ request: Request, to route: GatewayRoute, context: Context) async throws -> Response {
        var logger = context.logger
        logger[metadataKey: "http.method"] = .string(request.method.rawValue)
        logger[metadataKey: "http.path"] = .string(request.uri.path)
        logger[metadataKey: "upstream.name"] = .string(route.upstreamName)

        var upstreamRequest = HTTPClientRequest(url: route.upstreamURL(forTarget: request.uri.description))
        upstreamRequest.method = HTTPMethod(rawValue: request.method.rawValue)
        upstreamRequest.headers = ForwardedHeaders.upstreamHeaders(
            for: request,
            clientAddress: context.remoteAddress?.ipAddress
        )
        let gate: RequestBodyGate?
        (upstreamRequest.body, gate) = try self.upstreamBody(for: request)

        let upstreamResponse: HTTPClientResponse
        do {
            upstreamResponse = try await self.httpClient.execute(
                upstreamRequest,
                timeout: TimeAmount(self.configuration.upstreamTimeout),
                logger: logger
            )
        } catch {
            let response: Response
            if let error = error as? HTTPError {
                // Raised by our own body limit while AsyncHTTPClient was pulling the request body.
                response = APIError(error.status, error.body ?? error.status.reasonPhrase).response(path: request.uri.path)
            } else {
                let failure = UpstreamFailure(error, route: route, timeout: self.configuration.upstreamTimeout)
                logger.warning(
                    "Upstream request failed",
                    metadata: ["http.status": .stringConvertible(failure.status.code), "error.message": "\(error)"]
                )
                response = APIError(failure.status, failure.message).response(path: request.uri.path)
            }
            // Returned rather than thrown so that the body can wait for the gate after the client has its answer.
            return Response(status: response.status, headers: response.headers, body: response.body.closing(gate))
        }

        let status = HTTPResponse.Status(
            code: Int(upstreamResponse.status.code),
            reasonPhrase: upstreamResponse.status.reasonPhrase
        )
        logger.debug("Proxied request", metadata: ["http.status": .stringConvertible(status.code)])
        return Response(
            status: status,
            headers: ForwardedHeaders.downstreamHeaders(from: upstreamResponse.headers),
            body: ResponseBody(asyncSequence: upstreamResponse.body).closing(gate)
        )
    }

    /// Mirrors the client's framing: a declared length is forwarded as such, a chunked body stays chunked, and a
    /// request without either has no body (sending `Transfer-Encoding: chunked` on a GET confuses some servers).
    private func upstreamBody(for request: Request) throws -> (HTTPClientRequest.Body?, RequestBodyGate?) {
        let limit = self.configuration.maxBodySize
        let gate = RequestBodyGate()
        if let declared = request.headers[.contentLength] {
            // NIO's parser has already rejected malformed or conflicting lengths.
            guard let length = Int64(declared) else { throw HTTPError(.badRequest, message: "invalid Content-Length") }
            guard length <= limit else { throw HTTPError.bodyTooLarge(limit: limit) }
            let body = UpstreamRequestBody(base: request.body, gate: gate, limit: nil)
            return (.stream(body, length: .known(length)), gate)
        }
        if request.headers.contains(.transferEncoding) {
            let body = UpstreamRequestBody(base: request.body, gate: gate, limit: limit)
            return (.stream(body, length: .unknown), gate)
        }
        return (nil, nil)
    }
}

extension HTTPError {
    static func bodyTooLarge(limit: Int) -> HTTPError {
        HTTPError(.contentTooLarge, message: "request body exceeds the gateway limit of \(limit) bytes")
    }
}

/// How a transport failure towards an upstream is reported to the client.
struct UpstreamFailure {
    let status: HTTPResponse.Status
    let message: String

    init(_ error: any Error, route: GatewayRoute, timeout: Duration) {
        let upstream = "upstream \(route.upstreamName) (\(route.upstream))"
        let clientError = error as? HTTPClientError
        if let clientError, [.deadlineExceeded, .readTimeout, .writeTimeout].contains(clientError) {
            self.status = .gatewayTimeout
            self.message = "\(upstream) did not respond within \(Self.describe(timeout))"
        } else if let clientError, [.connectTimeout, .getConnectionFromPoolTimeout].contains(clientError) {
            self.status = .gatewayTimeout
            self.message = "\(upstream) did not accept a connection in time"
        } else if error is NIOConnectionError || error is IOError || error is ChannelError {
            self.status = .badGateway
            self.message = "\(upstream) is unreachable"
        } else if clientError == .remoteConnectionClosed {
            self.status = .badGateway
            self.message = "\(upstream) closed the connection before responding"
        } else {
            self.status = .badGateway
            self.message = "\(upstream) failed: \(clientError.map(String.init(describing:)) ?? "\(type(of: error))")"
        }
    }

    private static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }
}
