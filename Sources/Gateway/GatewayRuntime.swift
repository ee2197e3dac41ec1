import CinemaProcess
import Foundation
import Logging
import Prometheus
import ServiceLifecycle

public enum GatewayRuntime {
    /// The whole life of the gateway process, as `ServiceRuntime.main` is a service's: configuration
    /// from the environment, logging and metrics, then `runGateway` until SIGTERM or SIGINT.
    public static func main() async {
        let environment = ProcessInfo.processInfo.environment
        let shutdownTimeout: Duration
        let observability: (metrics: PrometheusCollectorRegistry, tracing: (any Service)?)
        do {
            let logLevel = try Observability.logLevel(environment["LOG_LEVEL"])
            shutdownTimeout = try ShutdownDeadline.timeout(fromEnvironment: environment["SHUTDOWN_TIMEOUT_SECONDS"])
            observability = try Observability.bootstrap(logLevel: logLevel, serviceName: "cinema-gateway", environment: environment)
        } catch {
            FileHandle.standardError.write(Data("gateway: invalid configuration: \(error)\n".utf8))
            exit(2)
        }
        let logger = Logger(label: "cinema.gateway")
        do {
            try await runGateway(
                configuration: .fromEnvironment(environment, logger: logger), logger: logger, metrics: observability.metrics,
                traceExport: observability.tracing, shutdownTimeout: shutdownTimeout)
        } catch {
            // A start-up failure such as a port in use is an operational error, not a reason for a crash report.
            logger.critical("gateway stopped", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}
