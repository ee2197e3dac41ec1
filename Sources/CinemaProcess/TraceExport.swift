import CinemaTracing
import Instrumentation
import Logging
import OTel
import ServiceLifecycle

/// Which tracer the process runs. By default the propagating ``W3CTracer``: trace context in headers, outbox rows and
/// log lines, and nothing sent anywhere. Setting `OTEL_TRACES_EXPORTER` (`otlp`, or `console`) switches to
/// swift-otel's tracer, which exports the spans, configured by the standard `OTEL_*` environment
/// (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL` `http/protobuf` or `http/json`,
/// `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_SCHEDULE_DELAY`, …). The W3C ids and headers are the same
/// either way.
enum TraceExport {
    /// Bootstraps `InstrumentationSystem`; returns the exporter's service when there is one, to run (and flush on
    /// shutdown) with the process's other services.
    static func bootstrap(serviceName: String, environment: [String: String]) throws(ConfigurationError) -> (any Service)? {
        let exporter = environment["OTEL_TRACES_EXPORTER"]?.lowercased() ?? "none"
        guard ["otlp", "console"].contains(exporter) else {
            // Like the other tuning settings: a value that cannot be used keeps the default, with a warning naming it.
            if !["", "none"].contains(exporter) {
                Logger(label: "cinema.tracing").warning(
                    "OTEL_TRACES_EXPORTER must be otlp, console or none; spans are not exported",
                    metadata: ["OTEL_TRACES_EXPORTER": "\(exporter.prefix(40))"])
            }
            TraceLogging.bootstrapInstrumentation()
            return nil
        }
        var configuration = OTel.Configuration.default
        // Only traces: logs and metrics keep their own paths (stderr, /metrics). The environment wins over these.
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        do {
            let backend = try OTel.makeTracingBackend(configuration: configuration)
            InstrumentationSystem.bootstrap(backend.factory)
            return backend.service
        } catch {
            throw ConfigurationError("the OTEL_* tracing settings cannot be used: \(error)")
        }
    }
}
