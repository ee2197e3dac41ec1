import Foundation
import Logging

/// How much one upstream is given at a time: requests in flight, requests waiting for one of those slots, and how
/// long a request may wait before it is refused.
public struct UpstreamLimits: Sendable, Hashable {
    /// Requests in flight to the upstream at once (at least 1).
    public var maxConcurrent: Int
    /// Requests waiting for a slot (0: none wait, the excess is refused at once).
    public var maxQueued: Int
    /// A request that waited this long without a slot coming free is refused.
    public var queueTimeout: Duration

    public init(maxConcurrent: Int = 64, maxQueued: Int = 128, queueTimeout: Duration = .seconds(2)) {
        self.maxConcurrent = maxConcurrent
        self.maxQueued = maxQueued
        self.queueTimeout = queueTimeout
    }
}

/// The gateway's load shedding: limits for every upstream, overrides for some, and the `Retry-After` it answers with.
public struct LoadSheddingConfiguration: Sendable, Hashable {
    public var defaultLimits: UpstreamLimits
    /// Limits by upstream name (`reservation`) for the upstreams that do not use the defaults.
    public var upstreamLimits: [String: UpstreamLimits]
    /// The `Retry-After` of a refused request, in seconds.
    public var retryAfterSeconds: Int

    /// Built-in limits of upstreams that differ from the defaults: the dashboard's streams stay open for as long as a
    /// page is, so many may be open, none waits (a browser retries by itself), and they never count against viewpage's
    /// own limit.
    public static let builtInUpstreamLimits: [String: UpstreamLimits] = [
        GatewayConfiguration.dashboardStreamUpstream: UpstreamLimits(maxConcurrent: 256, maxQueued: 0)
    ]

    public init(
        defaultLimits: UpstreamLimits = UpstreamLimits(),
        upstreamLimits: [String: UpstreamLimits] = LoadSheddingConfiguration.builtInUpstreamLimits,
        retryAfterSeconds: Int = 1
    ) {
        self.defaultLimits = defaultLimits
        self.upstreamLimits = upstreamLimits
        self.retryAfterSeconds = retryAfterSeconds
    }

    public func limits(for upstream: String) -> UpstreamLimits {
        self.upstreamLimits[upstream] ?? self.defaultLimits
    }

    /// Reads GATEWAY_MAX_CONCURRENT, GATEWAY_MAX_QUEUED, GATEWAY_QUEUE_TIMEOUT_MS and GATEWAY_RETRY_AFTER_SECONDS, and
    /// per upstream `<PREFIX>_MAX_CONCURRENT`, `<PREFIX>_MAX_QUEUED` and `<PREFIX>_QUEUE_TIMEOUT_MS` (each on top of the
    /// gateway-wide value). A value that is not a number in range keeps the default and is logged, so that a typo in a
    /// ConfigMap neither crash-loops the gateway nor passes unnoticed.
    static func fromEnvironment(
        _ env: [String: String],
        upstreamVariablePrefixes: [(name: String, variablePrefix: String)],
        logger: Logger?
    ) -> LoadSheddingConfiguration {
        let reader = SettingReader(env: env, logger: logger)
        let builtIn = LoadSheddingConfiguration()
        let defaults = UpstreamLimits(
            maxConcurrent: reader.integer("GATEWAY_MAX_CONCURRENT", atLeast: 1) ?? builtIn.defaultLimits.maxConcurrent,
            maxQueued: reader.integer("GATEWAY_MAX_QUEUED", atLeast: 0) ?? builtIn.defaultLimits.maxQueued,
            queueTimeout: reader.integer("GATEWAY_QUEUE_TIMEOUT_MS", atLeast: 1).map { .milliseconds($0) }
                ?? builtIn.defaultLimits.queueTimeout
        )
        var upstreamLimits: [String: UpstreamLimits] = [:]
        for upstream in upstreamVariablePrefixes {
            let prefix = upstream.variablePrefix
            let base = builtInUpstreamLimits[upstream.name] ?? defaults
            let limits = UpstreamLimits(
                maxConcurrent: reader.integer("\(prefix)_MAX_CONCURRENT", atLeast: 1) ?? base.maxConcurrent,
                maxQueued: reader.integer("\(prefix)_MAX_QUEUED", atLeast: 0) ?? base.maxQueued,
                queueTimeout: reader.integer("\(prefix)_QUEUE_TIMEOUT_MS", atLeast: 1).map { .milliseconds($0) } ?? base.queueTimeout
            )
            if limits != defaults { upstreamLimits[upstream.name] = limits }
        }
        return LoadSheddingConfiguration(
            defaultLimits: defaults,
            upstreamLimits: upstreamLimits,
            retryAfterSeconds: reader.integer("GATEWAY_RETRY_AFTER_SECONDS", atLeast: 1) ?? builtIn.retryAfterSeconds
        )
    }
}

/// Reads whole numbers from the environment, warning about (and ignoring) values that are set but unusable.
struct SettingReader {
    let env: [String: String]
    let logger: Logger?

    func integer(_ name: String, atLeast minimum: Int) -> Int? {
        guard let raw = env[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
        guard let value = Int(raw), value >= minimum else {
            self.logger?.warning(
                "Ignoring an unusable setting; the default stays",
                metadata: [
                    "config.variable": .string(name),
                    "config.value": .string(raw),
                    "config.expected": .string("a whole number of at least \(minimum)"),
                ]
            )
            return nil
        }
        return value
    }
}

extension GatewayConfiguration {
    /// How many connections AsyncHTTPClient may open to one upstream host: the sum of the limits of the upstreams
    /// behind that host (usually one). With fewer, requests the limiter admitted would queue again in the client's
    /// pool, where the limiter cannot see them, and a stuck upstream sharing a host could hold up the others.
    ///
    /// The client keeps a pool per scheme, host and port, so each instance of an upstream with several has its own;
    /// and since the limit is the upstream's as a whole, each instance is counted with all of it: when the other
    /// instances are down (or slow, and passed over), one may carry every admitted request alone.
    var connectionsPerUpstreamHost: Int {
        var limitByHost: [String: [String: Int]] = [:]
        for route in self.routes {
            for instance in route.upstreams {
                limitByHost[Self.poolKey(instance), default: [:]][route.upstreamName] =
                    self.shedding.limits(for: route.upstreamName).maxConcurrent
            }
        }
        let sums = limitByHost.values.map { limits in
            limits.values.reduce(0) { sum, limit in
                let (total, overflow) = sum.addingReportingOverflow(limit)
                return overflow ? Int.max : total
            }
        }
        return sums.max() ?? LoadSheddingConfiguration().defaultLimits.maxConcurrent
    }

    /// What AsyncHTTPClient keys its connection pools by: scheme, host and port, the port defaulting by scheme (so
    /// that `http://a` and `http://a:80` count as the one pool they share).
    private static func poolKey(_ baseURL: String) -> String {
        guard let url = URL(string: baseURL) else { return baseURL }
        let scheme = url.scheme?.lowercased() ?? ""
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(url.host?.lowercased() ?? ""):\(port)"
    }
}
