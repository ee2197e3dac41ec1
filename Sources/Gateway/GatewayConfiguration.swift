public import Foundation

/// One entry of the routing table: requests whose path starts with `prefix` go to `upstream`.
public struct GatewayRoute: Sendable, Hashable {
    /// Path prefix matched on whole segments: `/movies` matches `/movies` and `/movies/1`, not `/moviesx`.
    public var prefix: String
    /// Short service name used in logs and error messages, e.g. `movie`.
    public var upstreamName: String
    /// Base URL of the upstream, e.g. `http://127.0.0.1:8082` or `http://movie:8080`.
    public var upstream: String
    /// What replaces `prefix` in the forwarded path; lets an alias such as `/movieViews` reach `/movieviews`.
    public var upstreamPrefix: String

    public init(prefix: String, upstreamName: String, upstream: String, upstreamPrefix: String? = nil) {
        self.prefix = Self.trimmingTrailingSlashes(prefix)
        self.upstreamName = upstreamName
        self.upstream = Self.trimmingTrailingSlashes(upstream)
        self.upstreamPrefix = Self.trimmingTrailingSlashes(upstreamPrefix ?? prefix)
    }

    /// `path` must not contain the query string.
    public func matches(path: some StringProtocol) -> Bool {
        guard path.hasPrefix(self.prefix) else { return false }
        let rest = path.dropFirst(self.prefix.count)
        return rest.isEmpty || rest.first == "/"
    }

    /// The absolute URL to send upstream for a request target (path plus optional `?query`) this route matches.
    public func upstreamURL(forTarget target: some StringProtocol) -> String {
        let remainder = target.dropFirst(self.prefix.count)
        return "\(self.upstream)\(self.upstreamPrefix)\(remainder)"
    }

    private static func trimmingTrailingSlashes(_ value: String) -> String {
        // A bare "/" becomes "", which makes a catch-all route that forwards paths unchanged.
        var value = Substring(value)
        while value.last == "/" { value = value.dropLast() }
        return String(value)
    }
}

public struct GatewayConfiguration: Sendable {
    /// Address the gateway listens on.
    public var host: String
    public var port: Int
    public var routes: [GatewayRoute]
    /// How long an upstream may take to produce its response head; streaming the body afterwards is not bounded.
    public var upstreamTimeout: Duration
    /// Largest request body forwarded upstream, in bytes; bigger ones get 413 before or while streaming.
    public var maxBodySize: Int

    public init(
        host: String = "127.0.0.1",
        port: Int = 8088,
        routes: [GatewayRoute] = GatewayConfiguration.cinemaRoutes(),
        upstreamTimeout: Duration = .seconds(10),
        maxBodySize: Int = 16 * 1024 * 1024
    ) {
        self.host = host
        self.port = port
        self.routes = routes
        self.upstreamTimeout = upstreamTimeout
        self.maxBodySize = maxBodySize
    }

    /// The Cinema routing table. Defaults are the local development ports; Kubernetes passes service URLs.
    public static func cinemaRoutes(
        paymentURL: String = "http://127.0.0.1:8081",
        movieURL: String = "http://127.0.0.1:8082",
        reservationURL: String = "http://127.0.0.1:8083",
        messageURL: String = "http://127.0.0.1:8084",
        viewpageURL: String = "http://127.0.0.1:8085"
    ) -> [GatewayRoute] {
        [
            GatewayRoute(prefix: "/payments", upstreamName: "payment", upstream: paymentURL),
            GatewayRoute(prefix: "/movies", upstreamName: "movie", upstream: movieURL),
            GatewayRoute(prefix: "/reviews", upstreamName: "movie", upstream: movieURL),
            GatewayRoute(prefix: "/check", upstreamName: "movie", upstream: movieURL),
            GatewayRoute(prefix: "/reservations", upstreamName: "reservation", upstream: reservationURL),
            GatewayRoute(prefix: "/messages", upstreamName: "message", upstream: messageURL),
            GatewayRoute(prefix: "/movieviews", upstreamName: "viewpage", upstream: viewpageURL),
            // The original frontend calls the camel-cased path; the service only knows the lower-cased one.
            GatewayRoute(
                prefix: "/movieViews", upstreamName: "viewpage", upstream: viewpageURL, upstreamPrefix: "/movieviews"
            ),
        ]
    }

    /// Reads HOST, PORT, PAYMENT_URL, MOVIE_URL, RESERVATION_URL, MESSAGE_URL, VIEWPAGE_URL,
    /// GATEWAY_UPSTREAM_TIMEOUT_MS and GATEWAY_MAX_BODY_SIZE. Missing or unparsable values fall back to the defaults
    /// so that a typo in a deployment manifest degrades to local defaults instead of a crash loop.
    public static func fromEnvironment(
        _ env: [String: String] = ProcessInfo.processInfo.environment
    ) -> GatewayConfiguration {
        func value(_ name: String) -> String? {
            guard let raw = env[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        let defaults = GatewayConfiguration()
        let routes = cinemaRoutes(
            paymentURL: value("PAYMENT_URL") ?? "http://127.0.0.1:8081",
            movieURL: value("MOVIE_URL") ?? "http://127.0.0.1:8082",
            reservationURL: value("RESERVATION_URL") ?? "http://127.0.0.1:8083",
            messageURL: value("MESSAGE_URL") ?? "http://127.0.0.1:8084",
            viewpageURL: value("VIEWPAGE_URL") ?? "http://127.0.0.1:8085"
        )
        let port = value("PORT").flatMap(Int.init).filter { (0...65_535).contains($0) } ?? defaults.port
        let timeout =
            value("GATEWAY_UPSTREAM_TIMEOUT_MS").flatMap(Int.init).filter { $0 > 0 }
            .map { Duration.milliseconds($0) } ?? defaults.upstreamTimeout
        let maxBodySize = value("GATEWAY_MAX_BODY_SIZE").flatMap(Int.init).filter { $0 >= 0 } ?? defaults.maxBodySize
        return GatewayConfiguration(
            host: value("HOST") ?? defaults.host,
            port: port,
            routes: routes,
            upstreamTimeout: timeout,
            maxBodySize: maxBodySize
        )
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
