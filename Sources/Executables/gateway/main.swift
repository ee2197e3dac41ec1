import Foundation
import Gateway
import Logging

let environment = ProcessInfo.processInfo.environment
let logLevel = environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardOutput(label: label)
    handler.logLevel = logLevel
    return handler
}
let logger = Logger(label: "cinema.gateway")

do {
    try await runGateway(configuration: .fromEnvironment(environment), logger: logger)
} catch {
    // A start-up failure such as a port in use is an operational error, not a reason for a crash report.
    logger.critical("Gateway stopped", metadata: ["error.message": "\(error)"])
    exit(1)
}
