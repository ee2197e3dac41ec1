import CinemaHTTP
public import CinemaKit
import Foundation
import Logging
import ServiceLifecycle

/// The viewpage service: the one-screen read model (port 8085, consumer group `viewpage`), and the live dashboard on it.
public enum ViewpageService {
    public static let definition = ServiceDefinition(
        name: "viewpage",
        defaultPort: 8085,
        schema: MovieViewRepository.schema,
        policies: ViewpagePolicies.handlers
    ) { environment in
        let stream = DashboardStream(
            persistence: environment.persistence, handledTypes: ViewpagePolicies.handlers.eventTypes, logger: environment.logger)
        let dashboard = DashboardController(
            stream: stream, assets: StaticAssets(directory: dashboardDirectory(environment.configuration.environment)))
        if dashboard.assets.assets.isEmpty {
            environment.logger.warning(
                "dashboard assets not found; /dashboard/ answers 404",
                metadata: ["dashboard.directory": "\(dashboard.assets.directory?.path ?? "none")"])
        }
        return ServiceComponents(
            routes: [MovieViewController(persistence: environment.persistence).endpoints, dashboard.endpoints],
            backgroundServices: [DashboardHeartbeat(hub: stream.hub)]
                + (stream.broadcasting.map { [DashboardListener(stream: stream, broadcasting: $0)] } ?? []),
            messageObserver: { message, outcome in await stream.observe(message, outcome: outcome) }
        )
    }

    /// `DASHBOARD_ASSETS_DIR`, else the SwiftPM resource bundle beside the binary (also what the image carries), else
    /// the source tree (tests, `swift run`).
    static func dashboardDirectory(_ environment: [String: String]) -> URL? {
        StaticAssets.firstDirectory([
            environment["DASHBOARD_ASSETS_DIR"].map { URL(fileURLWithPath: $0) },
            StaticAssets.resourceDirectory(package: "cinema", target: "ViewpageService", subdirectory: "Dashboard"),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Dashboard"),
        ])
    }
}

/// A comment on every open stream through idle periods (proxies and browsers drop silent connections), and the end of
/// every stream on shutdown.
struct DashboardHeartbeat: Service {
    let hub: EventStreamHub
    var interval: Duration = .seconds(15)

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            hub.heartbeat()
        }
        hub.finishAll()
    }
}

/// On a database replicas share: hears every replica's dashboard changes (this one's included) for this replica's
/// browsers, for as long as the process runs. A lost connection (a database restart, a failover) is listened to again
/// after a back-off, and the open pages then get a fresh snapshot for what was missed meanwhile.
struct DashboardListener: Service {
    let stream: DashboardStream
    let broadcasting: any StoreBroadcasting

    func run() async throws {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        // Cancellation ends it too (a test's task group, a service group cancelled without a graceful shutdown).
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                try await cancelWhenGracefulShutdown {
                    try await broadcasting.listen(on: DashboardStream.channel) {
                        await stream.resynchronize()
                    } receive: { payload in
                        await stream.received(payload)
                    }
                }
            } catch {
                guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return }
                // A connection that held a while was not the failure that keeps repeating: start the back-off again.
                if ContinuousClock.now - started > .seconds(30) { backoff.reset() }
                let delay = backoff.next()
                stream.logger.warning(
                    "dashboard listener lost its database connection; listening again",
                    metadata: ["error.message": "\(String(reflecting: error))", "retry.delay": "\(delay)"])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
    }
}
