public import HTTPTypes

/// One entry of the routing table: requests whose path starts with `prefix` go to one of `upstreams`.
public struct GatewayRoute: Sendable, Hashable {
    /// Path prefix matched on whole segments: `/movies` matches `/movies` and `/movies/1`, not `/moviesx`.
    public var prefix: String
    /// Short service name used in logs and error messages, e.g. `movie`.
    public var upstreamName: String
    /// Base URLs of the upstream's instances, e.g. `http://127.0.0.1:8082` or `http://movie:8080`; usually one, several
    /// when the service runs as replicas the gateway balances over (``UpstreamBalancer``).
    public var upstreams: [String]
    /// What replaces `prefix` in the forwarded path; lets an alias such as `/movieViews` reach `/movieviews`.
    public var upstreamPrefix: String
    /// The methods forwarded on this route; `nil` forwards every method. Any other method is answered
    /// `405 Method Not Allowed` by the gateway and never reaches the upstream.
    public var methods: Set<HTTPRequest.Method>?
    /// A route whose answers are long-lived streams (the dashboard's Server-Sent Events): the gateway ends them when it
    /// shuts down instead of waiting for them. Give such a route an upstream name of its own, so that its own limit
    /// (and its share of the connection pool) is what open streams use up, not the limit of the upstream's other routes.
    public var streaming: Bool

    public init(
        prefix: String,
        upstreamName: String,
        upstream: String,
        upstreamPrefix: String? = nil,
        methods: Set<HTTPRequest.Method>? = nil,
        streaming: Bool = false
    ) {
        self.init(
            prefix: prefix, upstreamName: upstreamName, upstreams: [upstream], upstreamPrefix: upstreamPrefix, methods: methods,
            streaming: streaming)
    }

    /// A route over several instances of one upstream. Duplicates (after trailing slashes are trimmed) are dropped:
    /// they would be one connection pool counted as two instances.
    public init(
        prefix: String,
        upstreamName: String,
        upstreams: [String],
        upstreamPrefix: String? = nil,
        methods: Set<HTTPRequest.Method>? = nil,
        streaming: Bool = false
    ) {
        self.streaming = streaming
        self.prefix = Self.trimmingTrailingSlashes(prefix)
        self.upstreamName = upstreamName
        var seen: Set<String> = []
        self.upstreams = upstreams.map(Self.trimmingTrailingSlashes).filter { seen.insert($0).inserted }
        self.upstreamPrefix = Self.trimmingTrailingSlashes(upstreamPrefix ?? prefix)
        self.methods = methods
    }

    /// The upstream as named in logs and error messages: its base URL, or the instances' separated by commas.
    public var upstream: String {
        self.upstreams.joined(separator: ", ")
    }

    /// `path` must not contain the query string.
    public func matches(path: some StringProtocol) -> Bool {
        guard path.hasPrefix(self.prefix) else { return false }
        let rest = path.dropFirst(self.prefix.count)
        return rest.isEmpty || rest.first == "/"
    }

    /// Whether requests with `method` are forwarded on this route.
    public func forwards(_ method: HTTPRequest.Method) -> Bool {
        self.methods?.contains(method) ?? true
    }

    /// The `Allow` header value for a route restricted to some methods, e.g. `GET, HEAD`; `nil` when it forwards all.
    public var allowHeaderValue: String? {
        self.methods.map(HTTPMethodList.describe)
    }

    /// The absolute URL to send to `instance` (one of `upstreams`; the first when `nil`) for a path this route matches
    /// and an optional query (without its `?`).
    public func upstreamURL(
        forPath path: some StringProtocol, query: (some StringProtocol)?, instance: String? = nil
    ) -> String {
        // Matching guarantees `path` starts with the prefix, so only the part after it is carried over.
        let remainder = path.dropFirst(self.prefix.count)
        let querySuffix = query.map { "?\($0)" } ?? ""
        return "\(instance ?? self.upstreams.first ?? "")\(self.upstreamPrefix)\(remainder)\(querySuffix)"
    }

    /// The absolute URL to send upstream for a request target (path plus optional `?query`) this route matches.
    public func upstreamURL(forTarget target: some StringProtocol) -> String {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first ?? ""
        return self.upstreamURL(forPath: path, query: parts.dropFirst().first)
    }

    private static func trimmingTrailingSlashes(_ value: String) -> String {
        // A bare "/" becomes "", which makes a catch-all route that forwards paths unchanged.
        var value = Substring(value)
        while value.last == "/" { value = value.dropLast() }
        return String(value)
    }
}

/// Method lists as they appear in `Allow` headers and in the `*_METHODS` configuration variables.
public enum HTTPMethodList {
    /// The usual order of the common methods; others follow alphabetically.
    private static let conventionalOrder: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options, .trace, .connect]

    /// `GET, HEAD`: a stable, readable order whatever order the set holds.
    public static func describe(_ methods: Set<HTTPRequest.Method>) -> String {
        let known = conventionalOrder.filter(methods.contains)
        let others = methods.subtracting(conventionalOrder).map(\.rawValue).sorted()
        return (known.map(\.rawValue) + others).joined(separator: ", ")
    }

    /// Reads `GET,HEAD` (separated by commas and/or spaces; names are upper-cased, as every standard method is).
    /// Returns `nil` for an empty list or anything that is not a method token.
    public static func parse(_ text: String) -> Set<HTTPRequest.Method>? {
        let names = text.split { $0 == "," || $0 == " " || $0 == "\t" }
        guard !names.isEmpty else { return nil }
        var methods: Set<HTTPRequest.Method> = []
        for name in names {
            guard let method = HTTPRequest.Method(name.uppercased()) else { return nil }
            methods.insert(method)
        }
        return methods
    }
}
