public import AsyncHTTPClient
import CinemaHTTP
import CinemaProcess
public import Hummingbird
public import Logging
public import NIOCore
import NIOPosix
public import Prometheus
import ServiceLifecycle
import UnixSignals

/// Request context of the gateway: the peer address feeds `X-Forwarded-For`; the channel tells a request waiting for
/// an upstream slot that its client went away (``ClientInputWatch``).
public struct GatewayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.channel = source.channel
    }
}

/// Builds the gateway application. The caller owns `httpClient` and shuts it down after the application stopped;
/// ``HTTPClient/Configuration/gateway(for:)`` is the configuration it should be created with.
public func buildGatewayApplication(
    configuration: GatewayConfiguration,
    httpClient: HTTPClient,
    logger: Logger,
    metrics: PrometheusCollectorRegistry? = nil
) -> some ApplicationProtocol {
    buildGatewayApplication(
        configuration: configuration, httpClient: httpClient, logger: logger, metrics: metrics,
        limiters: UpstreamLimiters(configuration: configuration, logger: logger),
        balancers: UpstreamBalancers(configuration: configuration, logger: logger)
    )
}

/// The same, with limiters and balancers of the caller's (tests watch their state and metrics, and set the clock).
func buildGatewayApplication(
    configuration: GatewayConfiguration,
    httpClient: HTTPClient,
    logger: Logger,
    metrics: PrometheusCollectorRegistry? = nil,
    limiters: UpstreamLimiters,
    balancers: UpstreamBalancers
) -> some ApplicationProtocol {
    Application(
        router: buildGatewayRouter(
            configuration: configuration, httpClient: httpClient, metrics: metrics, limiters: limiters, balancers: balancers),
        server: .gateway(configuration),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
        logger: logger
    )
}

/// The gateway's router: middleware does the proxying, the router itself only knows the probes and `/openapi.json`.
public func buildGatewayRouter(
    configuration: GatewayConfiguration,
    httpClient: HTTPClient,
    metrics: PrometheusCollectorRegistry? = nil,
    logger: Logger = Logger(label: "cinema.gateway")
) -> Router<GatewayRequestContext> {
    buildGatewayRouter(
        configuration: configuration, httpClient: httpClient, metrics: metrics,
        limiters: UpstreamLimiters(configuration: configuration, logger: logger),
        balancers: UpstreamBalancers(configuration: configuration, logger: logger)
    )
}

func buildGatewayRouter(
    configuration: GatewayConfiguration,
    httpClient: HTTPClient,
    metrics: PrometheusCollectorRegistry? = nil,
    limiters: UpstreamLimiters,
    balancers: UpstreamBalancers
) -> Router<GatewayRequestContext> {
    let router = Router(context: GatewayRequestContext.self, options: .autoGenerateHeadEndpoints)
    router.addMiddleware {
        // Outermost first: every answer, preflights and errors included, carries the correlation id, and
        // errors are JSON bodies before CORS headers are put on them.
        CorrelationIDMiddleware()
        GatewayCORSMiddleware(configuration: configuration)
        MetricsMiddleware()
        JSONErrorMiddleware()
        ProxyMiddleware(configuration: configuration, httpClient: httpClient, limiters: limiters, balancers: balancers)
    }
    // The gateway holds no state: it is ready as soon as it listens. Upstream outages show as 502s
    // per route rather than taking the whole gateway out of a load balancer.
    router.addProbeRoutes(service: "gateway", readiness: .alwaysReady, metrics: metrics)
    router.addOpenAPIRoute()
    return router
}

extension HTTPClient.Configuration {
    /// What a reverse proxy needs from the client: redirects go back to the browser instead of being followed,
    /// a refused connection fails at once (a 502) rather than being retried until the request deadline, and the
    /// connection pool admits every request the load shedding admits (AsyncHTTPClient's default is 8 per host). The
    /// refused connection is also what lets the balancer pass over a down instance at once.
    public static func gateway(for configuration: GatewayConfiguration) -> HTTPClient.Configuration {
        var clientConfiguration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: TimeAmount(configuration.upstreamTimeout)),
            decompression: .disabled
        )
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(
            clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit,
            configuration.connectionsPerUpstreamHost
        )
        return clientConfiguration
    }
}

/// Runs the gateway until SIGTERM or SIGINT, then lets in-flight requests finish and shuts the HTTP client down.
public func runGateway(
    configuration: GatewayConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry? = nil,
    shutdownTimeout: Duration = .seconds(10)
) async throws {
    let httpClient = HTTPClient(
        eventLoopGroup: .singletonMultiThreadedEventLoopGroup,
        configuration: .gateway(for: configuration),
        backgroundActivityLogger: logger
    )
    let app = buildGatewayApplication(configuration: configuration, httpClient: httpClient, logger: logger, metrics: metrics)
    logger.info(
        "Gateway routes",
        metadata: [
            "gateway.routes": .array(
                configuration.routes.map { route in
                    let methods = route.allowHeaderValue.map { " (\($0) only)" } ?? ""
                    let targets = route.upstreams.map { "\($0)\(route.upstreamPrefix)" }.joined(separator: ", ")
                    return .string("\(route.prefix) -> \(targets)\(methods)")
                }
            ),
            // How long an instance that refused a connection is passed over (routes with several instances).
            "gateway.upstream_retry": .string(UpstreamFailure.describe(configuration.upstreamRetryInterval)),
        ]
    )
    let shedding = configuration.shedding
    logger.info(
        "Gateway load shedding",
        metadata: [
            "gateway.shedding": .array(
                Set(configuration.routes.map(\.upstreamName)).sorted().map { upstream in
                    let limits = shedding.limits(for: upstream)
                    return .string(
                        "\(upstream): \(limits.maxConcurrent) in flight, \(limits.maxQueued) queued for at most "
                            + UpstreamFailure.describe(limits.queueTimeout))
                }
            ),
            "gateway.shedding.retry_after_seconds": .stringConvertible(shedding.retryAfterSeconds),
        ]
    )
    // ServiceGroup stops services in reverse order: the application drains first, the client goes last.
    let serviceGroup = ServiceGroup(
        configuration: .init(
            services: [HTTPClientService(client: httpClient), app, ShutdownDeadline(timeout: shutdownTimeout, logger: logger)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
    )
    try await serviceGroup.run()
}

/// Ties the shared client's lifetime to the service group.
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        // Cancellation also ends the wait; either way the client must be shut down.
        try? await gracefulShutdown()
        try await self.client.shutdown()
    }
}
