import Foundation
public import Logging
public import ServiceLifecycle

/// Bounds a process's shutdown: once graceful shutdown begins, the process exits within `timeout`
/// whatever its parts are waiting for (a frozen broker holding a librdkafka call, a peer that
/// never answers). Kubernetes kills a pod after its grace period anyway; exiting first, with a
/// log line saying so, keeps the reason in the log. Nothing a client was told succeeded is at risk:
/// every commit is durable before its answer, and unpublished events wait in the outbox.
///
/// Put it last in the service group: the group signals graceful shutdown in reverse order, so it
/// starts counting as soon as shutdown begins.
public struct ShutdownDeadline: Service {
    let timeout: Duration
    let logger: Logger

    public init(timeout: Duration, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    public func run() async throws {
        try? await gracefulShutdown()
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let logger = self.logger
        // A thread of its own: the cooperative pool may be the thing that is stuck.
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: seconds)
            logger.critical("shutdown did not finish within \(seconds) s; exiting now")
            _exit(Self.exitStatus)
        }
    }

    /// The status of a process that had to be stopped by its deadline (EX_SOFTWARE).
    public static let exitStatus: Int32 = 70

    /// `SHUTDOWN_TIMEOUT_SECONDS` (default 10, to fit Kubernetes' default grace period of 30 s
    /// with room for the preStop pause).
    public static func timeout(fromEnvironment text: String?) throws(ConfigurationError) -> Duration {
        guard let text else { return .seconds(10) }
        guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 3600 else {
            throw ConfigurationError("SHUTDOWN_TIMEOUT_SECONDS must be a number of seconds between 0 and 3600, got \"\(text)\"")
        }
        return .milliseconds(Int64(seconds * 1000))
    }
}
