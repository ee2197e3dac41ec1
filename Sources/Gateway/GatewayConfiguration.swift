public import Foundation
public import HTTPTypes

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

    /// Methods forwarded per upstream name in the Cinema routing table; upstreams not listed forward every method.
    /// Payments are created by the reservation service and refunded through events, never by a browser, so the
    /// public side only reads them.
    public static let defaultUpstreamMethods: [String: Set<HTTPRequest.Method>] = ["payment": [.get, .head]]

    /// The Cinema routing table. Defaults are the local development ports; Kubernetes passes service URLs.
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
                prefix: prefix, upstreamName: name, upstream: url, upstreamPrefix: upstreamPrefix, methods: upstreamMethods[name]
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
        ]
    }

    /// The upstreams of the Cinema routing table: the name used in routes and the environment variables' prefix.
    static let cinemaUpstreams: [(name: String, variablePrefix: String, defaultURL: String)] = [
        ("payment", "PAYMENT", "http://127.0.0.1:8081"),
        ("movie", "MOVIE", "http://127.0.0.1:8082"),
        ("reservation", "RESERVATION", "http://127.0.0.1:8083"),
        ("message", "MESSAGE", "http://127.0.0.1:8084"),
        ("viewpage", "VIEWPAGE", "http://127.0.0.1:8085"),
    ]

    /// Reads HOST, PORT, `<UPSTREAM>_URL` and `<UPSTREAM>_METHODS` for PAYMENT, MOVIE, RESERVATION, MESSAGE and
    /// VIEWPAGE, GATEWAY_UPSTREAM_TIMEOUT_MS and GATEWAY_MAX_BODY_SIZE. Missing or unparsable values fall back to the defaults so that a typo in a deployment
    /// manifest degrades to local defaults instead of a crash loop.
    public static func fromEnvironment(
        _ env: [String: String] = ProcessInfo.processInfo.environment
    ) -> GatewayConfiguration {
        func value(_ name: String) -> String? {
            guard let raw = env[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        func positiveInteger(_ name: String) -> Int? {
            value(name).flatMap { Int($0) }.filter { $0 > 0 }
        }
        let defaults = GatewayConfiguration()
        var urls: [String: String] = [:]
        var methods = defaultUpstreamMethods
        for upstream in cinemaUpstreams {
            urls[upstream.name] = value("\(upstream.variablePrefix)_URL") ?? upstream.defaultURL
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
            maxBodySize: value("GATEWAY_MAX_BODY_SIZE").flatMap { Int($0) }.filter { $0 >= 0 } ?? defaults.maxBodySize
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
