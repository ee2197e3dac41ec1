public import Foundation
public import HTTPTypes
public import Logging

public struct GatewayConfiguration: Sendable {
    /// Address the gateway listens on.
    public var host: String
    public var port: Int
    public var routes: [GatewayRoute]
    /// How long an upstream may take to produce its response head; streaming the body afterwards is not bounded.
    public var upstreamTimeout: Duration
    /// Largest request body forwarded upstream, in bytes; bigger ones get 413 before or while streaming.
    public var maxBodySize: Int
    /// Largest request head (request line plus header fields) the gateway reads, in bytes; bigger ones get 431.
    /// Below the services' own 80 KiB, so that what the gateway adds (`X-Forwarded-*`, the correlation id) still fits.
    public var maxHeaderSize: Int
    /// A connection that has not sent a complete request head or body part for this long is closed, so that clients
    /// trickling bytes (slowloris) cannot hold connections open. Waiting for an upstream's answer does not count.
    public var idleTimeout: Duration
    /// Per upstream: how many requests may be in flight and waiting, and the `Retry-After` of those refused.
    public var shedding: LoadSheddingConfiguration
    /// How long an instance of an upstream with several is skipped after it refused a connection; then one request
    /// tries it again.
    public var upstreamRetryInterval: Duration
    /// How long the readiness strip (`/health/services`) waits for each instance's `/ready`.
    public var healthTimeout: Duration

    public init(
        host: String = "127.0.0.1",
        port: Int = 8088,
        routes: [GatewayRoute] = GatewayConfiguration.cinemaRoutes(),
        upstreamTimeout: Duration = .seconds(10),
        maxBodySize: Int = 16 * 1024 * 1024,
        maxHeaderSize: Int = 64 * 1024,
        idleTimeout: Duration = .seconds(60),
        shedding: LoadSheddingConfiguration = LoadSheddingConfiguration(),
        upstreamRetryInterval: Duration = .seconds(5),
        healthTimeout: Duration = .milliseconds(800)
    ) {
        self.host = host
        self.port = port
        self.routes = routes
        self.upstreamTimeout = upstreamTimeout
        self.maxBodySize = maxBodySize
        self.maxHeaderSize = maxHeaderSize
        self.idleTimeout = idleTimeout
        self.shedding = shedding
        self.upstreamRetryInterval = upstreamRetryInterval
        self.healthTimeout = healthTimeout
    }

    /// Methods forwarded per upstream name in the Cinema routing table; upstreams not listed forward every method.
    /// Payments are created by the reservation service and refunded through events, never by a browser, so the
    /// public side only reads them.
    public static let defaultUpstreamMethods: [String: Set<HTTPRequest.Method>] = ["payment": [.get, .head]]

    /// The Cinema routing table. Defaults are the local development ports; Kubernetes passes service URLs. Each URL may
    /// be a list of instances separated by commas or spaces (as `*_URL` is read, see ``upstreamInstances(_:)``).
    public static func cinemaRoutes(
        paymentURL: String = "http://127.0.0.1:8081",
        movieURL: String = "http://127.0.0.1:8082",
        reservationURL: String = "http://127.0.0.1:8083",
        messageURL: String = "http://127.0.0.1:8084",
        viewpageURL: String = "http://127.0.0.1:8085",
        upstreamMethods: [String: Set<HTTPRequest.Method>] = defaultUpstreamMethods
    ) -> [GatewayRoute] {
        func route(_ prefix: String, _ name: String, _ url: String, upstreamPrefix: String? = nil) -> GatewayRoute {
            GatewayRoute(
                prefix: prefix, upstreamName: name, upstreams: upstreamInstances(url), upstreamPrefix: upstreamPrefix,
                methods: upstreamMethods[name]
            )
        }
        return [
            route("/payments", "payment", paymentURL),
            route("/movies", "movie", movieURL),
            route("/reviews", "movie", movieURL),
            route("/check", "movie", movieURL),
            route("/reservations", "reservation", reservationURL),
            route("/messages", "message", messageURL),
            route("/movieviews", "viewpage", viewpageURL),
            // The original frontend calls the camel-cased path; the service only knows the lower-cased one.
            route("/movieViews", "viewpage", viewpageURL, upstreamPrefix: "/movieviews"),
            // The dashboard (`/` redirects here): its page, assets, snapshot and health strip are read-only.
            GatewayRoute(
                prefix: "/dashboard", upstreamName: "viewpage", upstreams: upstreamInstances(viewpageURL), methods: [.get, .head]),
            // Its event stream is open as long as a page is: a limit of its own, so that open dashboards never take the
            // slots (or the pooled connections) of /movieviews.
            GatewayRoute(
                prefix: "/dashboard/events", upstreamName: dashboardStreamUpstream, upstreams: upstreamInstances(viewpageURL),
                methods: [.get], streaming: true),
        ]
    }

    /// The upstream name of the dashboard's event stream (viewpage's `/dashboard/events`), limited on its own:
    /// `DASHBOARD_STREAM_MAX_CONCURRENT` (default 256 open streams), `DASHBOARD_STREAM_MAX_QUEUED` (default 0).
    public static let dashboardStreamUpstream = "viewpage-stream"

    /// The upstreams of the Cinema routing table: the name used in routes and the environment variables' prefix.
    static let cinemaUpstreams: [(name: String, variablePrefix: String, defaultURL: String)] = [
        ("payment", "PAYMENT", "http://127.0.0.1:8081"),
        ("movie", "MOVIE", "http://127.0.0.1:8082"),
        ("reservation", "RESERVATION", "http://127.0.0.1:8083"),
        ("message", "MESSAGE", "http://127.0.0.1:8084"),
        ("viewpage", "VIEWPAGE", "http://127.0.0.1:8085"),
    ]

    /// Reads HOST, PORT, `<UPSTREAM>_URL` and `<UPSTREAM>_METHODS` for PAYMENT, MOVIE, RESERVATION, MESSAGE and
    /// VIEWPAGE, GATEWAY_UPSTREAM_TIMEOUT_MS, GATEWAY_MAX_BODY_SIZE, GATEWAY_MAX_HEADER_SIZE,
    /// GATEWAY_IDLE_TIMEOUT_MS and GATEWAY_UPSTREAM_RETRY_MS, and the load shedding settings
    /// (``LoadSheddingConfiguration``). Missing or unparsable values fall back to the defaults so that a typo in a
    /// deployment manifest degrades to local defaults instead of a crash loop; unusable upstream URLs, retry intervals
    /// and load shedding values are logged to `logger`.
    public static func fromEnvironment(
        _ env: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger? = nil
    ) -> GatewayConfiguration {
        func value(_ name: String) -> String? {
            guard let raw = env[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        func positiveInteger(_ name: String) -> Int? {
            value(name).flatMap { Int($0) }.filter { $0 > 0 }
        }
        let defaults = GatewayConfiguration()
        let reader = SettingReader(env: env, logger: logger)
        var urls: [String: String] = [:]
        var methods = defaultUpstreamMethods
        for upstream in cinemaUpstreams {
            let variable = "\(upstream.variablePrefix)_URL"
            urls[upstream.name] = value(variable).flatMap { upstreamList($0, variable: variable, logger: logger) } ?? upstream.defaultURL
            // `*` lifts a default restriction; an unreadable list keeps the default rather than opening the route.
            switch value("\(upstream.variablePrefix)_METHODS") {
            case nil: break
            case .some("*"): methods[upstream.name] = nil
            case let text?: methods[upstream.name] = HTTPMethodList.parse(text) ?? methods[upstream.name]
            }
        }
        let routes = cinemaRoutes(
            paymentURL: urls["payment", default: ""],
            movieURL: urls["movie", default: ""],
            reservationURL: urls["reservation", default: ""],
            messageURL: urls["message", default: ""],
            viewpageURL: urls["viewpage", default: ""],
            upstreamMethods: methods
        )
        return GatewayConfiguration(
            host: value("HOST") ?? defaults.host,
            port: value("PORT").flatMap { Int($0) }.filter { (0...65_535).contains($0) } ?? defaults.port,
            routes: routes,
            upstreamTimeout: positiveInteger("GATEWAY_UPSTREAM_TIMEOUT_MS").map { .milliseconds($0) } ?? defaults.upstreamTimeout,
            maxBodySize: value("GATEWAY_MAX_BODY_SIZE").flatMap { Int($0) }.filter { $0 >= 0 } ?? defaults.maxBodySize,
            maxHeaderSize: positiveInteger("GATEWAY_MAX_HEADER_SIZE") ?? defaults.maxHeaderSize,
            idleTimeout: positiveInteger("GATEWAY_IDLE_TIMEOUT_MS").map { .milliseconds($0) } ?? defaults.idleTimeout,
            shedding: .fromEnvironment(
                env,
                upstreamVariablePrefixes: cinemaUpstreams.map { ($0.name, $0.variablePrefix) }
                    + [(dashboardStreamUpstream, "DASHBOARD_STREAM")],
                logger: logger),
            upstreamRetryInterval: reader.integer("GATEWAY_UPSTREAM_RETRY_MS", atLeast: 1).map { .milliseconds($0) }
                ?? defaults.upstreamRetryInterval,
            healthTimeout: reader.integer("GATEWAY_HEALTH_TIMEOUT_MS", atLeast: 1).map { .milliseconds($0) } ?? defaults.healthTimeout
        )
    }

    /// The usable instances of a `<UPSTREAM>_URL` value, rejoined by commas (as ``upstreamInstances(_:)`` reads them),
    /// or `nil` when there is none and the default stays. Each unusable entry is logged and skipped, so that one typo
    /// in a list of replicas costs that replica, not the whole list.
    static func upstreamList(_ text: String, variable: String, logger: Logger?) -> String? {
        let entries = upstreamInstances(text)
        let usable = entries.filter(isUsableUpstreamURL)
        guard !usable.isEmpty else {
            logger?.warning(
                "Ignoring an unusable setting; the default stays",
                metadata: [
                    "config.variable": .string(variable),
                    "config.value": .string(text),
                    "config.expected": .string("absolute http(s) URLs with a host, separated by commas or spaces"),
                ]
            )
            return nil
        }
        for entry in entries where !isUsableUpstreamURL(entry) {
            logger?.warning(
                "Ignoring an unusable upstream URL; the others stay",
                metadata: [
                    "config.variable": .string(variable),
                    "config.value": .string(entry),
                    "config.expected": .string("an absolute http(s) URL with a host"),
                ]
            )
        }
        return usable.joined(separator: ",")
    }

    /// Splits a list of upstream base URLs at commas and whitespace; a single URL is a list of one. A base URL has no
    /// use for either (they would have to be percent-encoded in a path, and a query is not allowed).
    public static func upstreamInstances(_ text: String) -> [String] {
        text.split { $0 == "," || $0.isWhitespace }.map(String.init)
    }

    /// An upstream base URL must be absolute http(s) with a host; otherwise every forwarded URL built on it would fail,
    /// and the gateway could no longer tell a malformed request from a malformed configuration.
    static func isUsableUpstreamURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host else { return false }
        return ["http", "https"].contains(scheme) && !host.isEmpty && url.query == nil && url.fragment == nil
    }

    /// The route for a request path (without query). When prefixes overlap the longest wins.
    public func route(forPath path: some StringProtocol) -> GatewayRoute? {
        self.routes.filter { $0.matches(path: path) }.max { $0.prefix.count < $1.prefix.count }
    }
}

extension Optional {
    fileprivate func filter(_ isIncluded: (Wrapped) -> Bool) -> Wrapped? {
        flatMap { isIncluded($0) ? $0 : nil }
    }
}
