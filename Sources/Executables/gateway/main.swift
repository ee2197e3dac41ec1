import CinemaKit
import Foundation
import Gateway
import Kafka
import Logging

let environment = ProcessInfo.processInfo.environment
let metrics = Observability.bootstrap(logLevel: Logger.Level(rawValue: environment["LOG_LEVEL"]?.lowercased() ?? "info") ?? .info)
let logger = Logger(label: "cinema.gateway")
logger.info("starting", metadata: ["kafka.library.version": "\(KafkaLibrary.versionString)"])

do {
    try await runGateway(configuration: .fromEnvironment(environment), logger: logger, metrics: metrics)
} catch {
    // A start-up failure such as a port in use is an operational error, not a reason for a crash report.
    logger.critical("gateway stopped", metadata: ["error": "\(error)"])
    exit(1)
}
