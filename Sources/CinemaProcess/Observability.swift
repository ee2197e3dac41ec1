import CinemaTracing
public import Logging
import Metrics
public import Prometheus
public import ServiceLifecycle

/// Process-wide logging and metrics, set up once from `main` before anything logs or counts.
public enum Observability {
    /// Bootstraps swift-log (stderr, with the given level, every line with the `trace.id` and `span.id` of the work
    /// it belongs to), swift-distributed-tracing (W3C trace context) and swift-metrics (Prometheus); returns the
    /// registry that `/metrics` renders.
    ///
    /// Tracing export is off unless `OTEL_TRACES_EXPORTER` is set (see `TraceExport`); then `tracing` is the exporter,
    /// to run with the process's services.
    public static func bootstrap(
        logLevel: Logger.Level, serviceName: String, environment: [String: String]
    ) throws(ConfigurationError) -> (metrics: PrometheusCollectorRegistry, tracing: (any Service)?) {
        LoggingSystem.bootstrap(
            { label, metadataProvider in
                var handler = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
                handler.logLevel = logLevel
                return handler
            },
            metadataProvider: TraceLogging.metadataProvider
        )
        let tracing = try TraceExport.bootstrap(serviceName: serviceName, environment: environment)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return (registry, tracing)
    }

    /// `LOG_LEVEL` as every process reads it: absent means `info`; anything else must name a level.
    public static func logLevel(_ text: String?) throws(ConfigurationError) -> Logger.Level {
        guard let text else { return .info }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError("LOG_LEVEL must be one of \(levels), got \"\(text)\"")
        }
        return level
    }
}

/// A setting in the environment that cannot be used; the process exits with status 2 naming it.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
