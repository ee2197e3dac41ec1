import AsyncHTTPClient
import CinemaHTTP
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Forwards requests whose path matches a route to that route's upstream and streams the answer back;
/// everything else goes on to the router (`/health`, or the 404). Each upstream takes only so many requests at a time
/// (``UpstreamLimiter``); the excess is refused with 503 and `Retry-After`.
struct ProxyMiddleware<Context: ClientInputRequestContext>: RouterMiddleware {
    let configuration: GatewayConfiguration
    let httpClient: HTTPClient
    let limiters: UpstreamLimiters

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        // The gateway is no tunnel, and NIO drops the body of any answer to CONNECT; ``MalformedRequestHandler`` closes
        // the connection after this answer so that the client sees where it ends.
        if request.method == .connect {
            throw APIError.badRequest("CONNECT is not supported: the gateway is not a tunnel")
        }
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
        try RequestChecks.checkHost(request)
        try RequestChecks.checkTarget(path: Substring(request.uri.path), query: request.uri.query.map { Substring($0) })
        return try await self.forward(request, to: route, context: context)
    }

    private func forward(_ request: Request, to route: GatewayRoute, context: Context) async throws -> Response {
        var logger = context.logger
        logger[metadataKey: "http.method"] = .string(request.method.rawValue)
        logger[metadataKey: "http.path"] = .string(request.uri.path)
        logger[metadataKey: "upstream.name"] = .string(route.upstreamName)

        // Built from the parsed path and query: the raw target may carry a fragment the upstream must not see.
        var upstreamRequest = HTTPClientRequest(url: route.upstreamURL(forPath: request.uri.path, query: request.uri.query))
        upstreamRequest.method = HTTPMethod(rawValue: request.method.rawValue)
        upstreamRequest.headers = ForwardedHeaders.upstreamHeaders(
            for: request,
            clientAddress: context.remoteAddress?.ipAddress
        )
        let gate: RequestBodyGate?
        (upstreamRequest.body, gate) = try self.upstreamBody(for: request)
        // After the checks that need no upstream (a 413 is answered as such, however busy the upstream), before
        // anything is sent to it.
        let permit = try await self.admit(to: route, context: context, logger: logger)

        let upstreamResponse: HTTPClientResponse
        do {
            upstreamResponse = try await self.httpClient.execute(
                upstreamRequest,
                timeout: TimeAmount(self.configuration.upstreamTimeout),
                logger: logger
            )
        } catch {
            // The exchange with the upstream is over; its slot is free whether or not the client reads the error.
            permit?.release()
            let response = self.apiError(for: error, route: route, bodyGate: gate, logger: logger).response(path: request.uri.path)
            // Returned rather than thrown so that the body can wait for the gate after the client has its answer.
            return Response(status: response.status, headers: response.headers, body: response.body.closing(gate))
        }

        let code = Int(upstreamResponse.status.code)
        // AsyncHTTPClient skips interim 1xx answers but hands over 101; the gateway does not tunnel upgraded connections.
        guard (200...999).contains(code) else {
            permit?.release()
            logger.warning("Upstream answered with a status the gateway cannot forward", metadata: ["http.status": "\(code)"])
            let message =
                "upstream \(route.upstreamName) (\(route.upstream)) answered with status \(code), which the gateway does not forward"
            let response = APIError(.badGateway, message).response(path: request.uri.path)
            return Response(status: response.status, headers: response.headers, body: response.body.closing(gate))
        }
        let status = HTTPResponse.Status(code: code, reasonPhrase: upstreamResponse.status.reasonPhrase)
        logger.debug("Proxied request", metadata: ["http.status": .stringConvertible(status.code)])
        // The slot is held until the upstream's body has been passed on: an upstream that sends its head and then
        // stalls is still busy.
        return Response(
            status: status,
            headers: ForwardedHeaders.downstreamHeaders(from: upstreamResponse.headers),
            body: ResponseBody(asyncSequence: upstreamResponse.body).closing(gate).releasing(permit)
        )
    }

    /// A slot of the route's upstream, or the 503 that says it is overloaded. `nil` for an upstream without a limiter.
    private func admit(to route: GatewayRoute, context: Context, logger: Logger) async throws -> UpstreamPermit? {
        guard let limiter = self.limiters[route.upstreamName] else { return nil }
        switch await limiter.acquire(clientInput: { await context.clientInputSignal() }) {
        case .admitted(let permit):
            return permit
        case .shed(let reason):
            logger.debug("Shed request", metadata: ["gateway.shed.reason": .string(reason.rawValue)])
            throw APIError.overloaded(
                upstream: route.upstreamName, reason: reason, limits: limiter.limits,
                retryAfterSeconds: self.configuration.shedding.retryAfterSeconds
            )
        case .abandoned:
            // The client is gone (or the task cancelled): nobody reads this answer; it only has to end the request.
            throw APIError(.serviceUnavailable, "the request was abandoned while waiting for \(route.upstreamName)")
        }
    }

    /// Whose fault a failed exchange was decides the answer: the client's (400, 408, 413) or the upstream's (502, 504).
    private func apiError(for error: any Error, route: GatewayRoute, bodyGate: RequestBodyGate?, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            // Raised while AsyncHTTPClient was pulling the client's body: over the limit, cut short, malformed.
            return error
        case let error as HTTPClientError where error == .invalidURL:
            // The target passed ``RequestChecks`` and the upstream base URL was checked at start, so this is not expected;
            // it still is the request that cannot be forwarded, not the upstream that failed.
            return .badRequest("the request target cannot be forwarded")
        default:
            break
        }
        let failure = UpstreamFailure(error, route: route, timeout: self.configuration.upstreamTimeout)
        if failure.isResponseTimeout, let bodyGate, bodyGate.isWaitingForClientBody {
            // The upstream cannot answer a request it has not fully received; the slow party is the client.
            return APIError(
                .requestTimeout,
                "the request body did not arrive within \(UpstreamFailure.describe(self.configuration.upstreamTimeout))"
            )
        }
        logger.warning(
            "Upstream request failed",
            metadata: ["http.status": .stringConvertible(failure.status.code), "error.message": "\(error)"]
        )
        return APIError(failure.status, failure.message)
    }

    /// Mirrors the client's framing: a declared length is forwarded as such, a chunked body stays chunked, and a
    /// request without either has no body (sending `Transfer-Encoding: chunked` on a GET confuses some servers).
    private func upstreamBody(for request: Request) throws -> (HTTPClientRequest.Body?, RequestBodyGate?) {
        let limit = self.configuration.maxBodySize
        let gate = RequestBodyGate()
        if let declared = request.headers[.contentLength] {
            // NIO's parser has already rejected malformed or conflicting lengths.
            guard let length = Int64(declared), length >= 0 else { throw APIError.badRequest("invalid Content-Length") }
            guard length <= limit else { throw APIError.bodyTooLarge(limit: limit) }
            let body = UpstreamRequestBody(base: request.body, gate: gate, limit: nil, declaredLength: length)
            return (.stream(body, length: .known(length)), gate)
        }
        if request.headers.contains(.transferEncoding) {
            let body = UpstreamRequestBody(base: request.body, gate: gate, limit: limit, declaredLength: nil)
            return (.stream(body, length: .unknown), gate)
        }
        return (nil, nil)
    }
}

extension APIError {
    static func bodyTooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, "request body exceeds the gateway limit of \(limit) bytes")
    }
}

/// How a transport failure towards an upstream is reported to the client.
struct UpstreamFailure {
    let status: HTTPResponse.Status
    let message: String
    /// The upstream accepted the connection but gave no response head in time.
    let isResponseTimeout: Bool

    init(_ error: any Error, route: GatewayRoute, timeout: Duration) {
        let upstream = "upstream \(route.upstreamName) (\(route.upstream))"
        let clientError = error as? HTTPClientError
        self.isResponseTimeout = clientError.map { [.deadlineExceeded, .readTimeout, .writeTimeout].contains($0) } ?? false
        if self.isResponseTimeout {
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

    /// `300 ms`, `10 s`; whole seconds for durations too large to count in milliseconds.
    static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let remainder = attoseconds / 1_000_000_000_000_000
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        let (milliseconds, sumOverflow) = whole.addingReportingOverflow(remainder)
        guard remainder != 0, !overflow, !sumOverflow else { return "\(seconds) s" }
        return "\(milliseconds) ms"
    }
}
