import Foundation
public import Logging
import Metrics
public import Prometheus

/// Process-wide logging and metrics, set up once from `main` before anything logs or counts.
public enum Observability {
    /// Bootstraps swift-log (stderr, with the given level) and swift-metrics (Prometheus);
    /// returns the registry that `/metrics` renders.
    public static func bootstrap(logLevel: Logger.Level) -> PrometheusCollectorRegistry {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }
}
