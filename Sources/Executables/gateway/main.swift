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

let configuration = GatewayConfiguration.fromEnvironment(environment)
try await runGateway(configuration: configuration, logger: Logger(label: "cinema.gateway"))
