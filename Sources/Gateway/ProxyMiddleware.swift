import AsyncHTTPClient
import CinemaHTTP
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Forwards requests whose path matches a route to one of that route's upstream instances and streams the answer
/// back; everything else goes on to the router (`/health`, or the 404). Each upstream takes only so many requests at a
/// time (``UpstreamLimiter``); the excess is refused with 503 and `Retry-After`. An upstream with several instances
/// has its requests spread over them, and one that refuses a connection is passed over (``UpstreamBalancer``).
struct ProxyMiddleware<Context: ClientInputRequestContext>: RouterMiddleware {
    let configuration: GatewayConfiguration
    let httpClient: HTTPClient
    let limiters: UpstreamLimiters
    let balancers: UpstreamBalancers

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
        try RequestChecks.checkTraceHasNoBody(request)
        try RequestChecks.checkTarget(path: Substring(request.uri.path), query: request.uri.query.map { Substring($0) })
        return try await self.forward(request, to: route, context: context)
    }

    private func forward(_ request: Request, to route: GatewayRoute, context: Context) async throws -> Response {
        var logger = context.logger
        logger[metadataKey: "http.method"] = .string(request.method.rawValue)
        logger[metadataKey: "http.path"] = .string(request.uri.path)
        logger[metadataKey: "upstream.name"] = .string(route.upstreamName)
        guard let balancer = self.balancers[route] else {
            // The balancers are built from the same routing table; a route without one is a bug, not the client's.
            throw APIError(.badGateway, "no upstream instance is configured for \(route.upstreamName)")
        }

        var upstreamRequest = HTTPClientRequest(url: "")
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

        var tried: Set<Int> = []
        var lastRefusal: (any Error)?
        while let lease = balancer.choose(excluding: tried) {
            if !tried.isEmpty { balancer.recordRetry(on: lease) }
            tried.insert(lease.choice.index)
            switch await self.attempt(
                upstreamRequest, of: request, on: lease, route: route, permit: permit, gate: gate, logger: logger)
            {
            case .answered(let response):
                return response
            case .refused(let error):
                lastRefusal = error
            }
        }
        // Every instance refused this request or was known to be down: nothing was sent anywhere.
        permit?.release()
        let failure = UpstreamFailure.unreachable(route: route, lastRefusal: lastRefusal, timeout: self.configuration.upstreamTimeout)
        logger.warning(
            "Upstream request failed",
            metadata: [
                "http.status": .stringConvertible(failure.status.code),
                "error.message": .string(lastRefusal.map { "\($0)" } ?? "every instance is down"),
            ]
        )
        let response = APIError(failure.status, failure.message).response(path: request.uri.path)
        // Returned rather than thrown so that the body can wait for the gate after the client has its answer.
        return Response(status: response.status, headers: response.headers, body: response.body.closing(gate))
    }

    private enum Attempt {
        /// The answer for the client, the upstream's or an error; the attempt is over.
        case answered(Response)
        /// The instance refused the connection: nothing was sent, the request may go to another one.
        case refused(any Error)
    }

    /// Sends the request to the instance of `lease`. Whatever the outcome, `lease` is ended (at once, or once the
    /// answer's body has been passed on); so is `permit`, unless the instance refused and another may be tried.
    private func attempt(
        _ upstreamRequest: HTTPClientRequest, of request: Request, on lease: InstanceLease, route: GatewayRoute,
        permit: UpstreamPermit?, gate: RequestBodyGate?, logger: Logger
    ) async -> Attempt {
        var logger = logger
        logger[metadataKey: "upstream.instance"] = .string(lease.instance)
        var upstreamRequest = upstreamRequest
        // Built from the parsed path and query: the raw target may carry a fragment the upstream must not see.
        upstreamRequest.url = route.upstreamURL(forPath: request.uri.path, query: request.uri.query, instance: lease.instance)

        let upstreamResponse: HTTPClientResponse
        do {
            upstreamResponse = try await self.httpClient.execute(
                upstreamRequest,
                timeout: TimeAmount(self.configuration.upstreamTimeout),
                logger: logger
            )
        } catch {
            // Only when nothing of the request can have left: a refused connection, and a body nobody has begun to
            // read (the client's body can be read once; AsyncHTTPClient reads it only over a connection). Anything
            // later may have reached the upstream, and a POST must not arrive twice.
            if UpstreamFailure.neverConnected(error), gate?.hasStartedReading != true {
                lease.refused(error: error)
                return .refused(error)
            }
            if !UpstreamFailure.isInconclusive(error) { lease.connected() }
            lease.release()
            // The exchange with the upstream is over; its slot is free whether or not the client reads the error.
            permit?.release()
            let response = self.apiError(for: error, route: route, instance: lease.instance, bodyGate: gate, logger: logger)
                .response(path: request.uri.path)
            return .answered(Response(status: response.status, headers: response.headers, body: response.body.closing(gate)))
        }
        lease.connected()

        let code = Int(upstreamResponse.status.code)
        // AsyncHTTPClient skips interim 1xx answers but hands over 101; the gateway does not tunnel upgraded connections.
        guard (200...999).contains(code) else {
            lease.release()
            permit?.release()
            logger.warning("Upstream answered with a status the gateway cannot forward", metadata: ["http.status": "\(code)"])
            let message =
                "upstream \(route.upstreamName) (\(lease.instance)) answered with status \(code), which the gateway does not forward"
            let response = APIError(.badGateway, message).response(path: request.uri.path)
            return .answered(Response(status: response.status, headers: response.headers, body: response.body.closing(gate)))
        }
        let status = HTTPResponse.Status(code: code, reasonPhrase: upstreamResponse.status.reasonPhrase)
        logger.debug("Proxied request", metadata: ["http.status": .stringConvertible(status.code)])
        // The slot and the instance are held until the upstream's body has been passed on: an upstream that sends its
        // head and then stalls is still busy.
        return .answered(
            Response(
                status: status,
                headers: ForwardedHeaders.downstreamHeaders(from: upstreamResponse.headers),
                body: ResponseBody(asyncSequence: upstreamResponse.body).closing(gate).releasing(permit).releasing(lease)
            ))
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
    private func apiError(
        for error: any Error, route: GatewayRoute, instance: String, bodyGate: RequestBodyGate?, logger: Logger
    ) -> APIError {
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
        let failure = UpstreamFailure(
            error, upstream: "upstream \(route.upstreamName) (\(instance))", timeout: self.configuration.upstreamTimeout)
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

    /// `upstream` names it in the message, e.g. `upstream movie (http://127.0.0.1:8082)`.
    init(_ error: any Error, upstream: String, timeout: Duration) {
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

    private init(status: HTTPResponse.Status, message: String) {
        self.status = status
        self.message = message
        self.isResponseTimeout = false
    }

    /// The answer when no instance of the route took the request: as for a single upstream that refused it (502, or
    /// 504 when it did not accept the connection in time), naming every instance when there are several. With no
    /// refusal at all, every instance was known to be down before anything was tried.
    static func unreachable(route: GatewayRoute, lastRefusal: (any Error)?, timeout: Duration) -> UpstreamFailure {
        let upstream = "upstream \(route.upstreamName) (\(route.upstream))"
        guard let lastRefusal else { return UpstreamFailure(status: .badGateway, message: "\(upstream) is unreachable") }
        return UpstreamFailure(lastRefusal, upstream: upstream, timeout: timeout)
    }

    /// Whether the error says that no connection to the upstream was ever made for the request, so that nothing of it
    /// was sent and it may go to another instance: the connection was refused, could not be made in time, or the name
    /// did not resolve. Errors that can also come from a connection in use (a reset, a closed channel) do not count.
    static func neverConnected(_ error: any Error) -> Bool {
        switch error {
        case is NIOConnectionError:
            // Only raised while connecting to a host name (every address failed, or none resolved).
            return true
        case let error as HTTPClientError:
            return error == .connectTimeout
        case let error as IOError:
            // Connecting to an IP address fails with the socket's error; a connection in use is reset, not refused.
            return error.errnoCode == ECONNREFUSED
        case ChannelError.connectTimeout:
            return true
        default:
            return false
        }
    }

    /// Whether the error ends an attempt without telling whether the instance would have taken it: the request was
    /// cancelled (its client went away) or waited too long for a connection of the client's own pool.
    static func isInconclusive(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        guard let error = error as? HTTPClientError else { return false }
        return error == .cancelled || error == .getConnectionFromPoolTimeout
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
