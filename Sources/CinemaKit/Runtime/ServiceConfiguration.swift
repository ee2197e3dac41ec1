public import Foundation
public import Logging

/// Everything a service reads from its environment; the same names locally, in CI and in the
/// Kubernetes ConfigMap.
public struct ServiceConfiguration: Sendable {
    public var serviceName: String
    public var host: String
    public var port: Int
    public var kafkaBrokers: String
    public var topic: String
    public var databasePath: String
    public var logLevel: Logger.Level
    /// Extra librdkafka properties, from `KAFKA_PROPERTY_<name with dots as underscores>`.
    public var kafkaProperties: [String: String]
    /// The raw environment, for service-specific settings (e.g. reservation's `PAYMENT_URL`).
    public var environment: [String: String]

    public init(
        serviceName: String, host: String = "127.0.0.1", port: Int, kafkaBrokers: String = "127.0.0.1:9092",
        topic: String = "cinema", databasePath: String, logLevel: Logger.Level = .info,
        kafkaProperties: [String: String] = [:], environment: [String: String] = [:]
    ) {
        self.serviceName = serviceName
        self.host = host
        self.port = port
        self.kafkaBrokers = kafkaBrokers
        self.topic = topic
        self.databasePath = databasePath
        self.logLevel = logLevel
        self.kafkaProperties = kafkaProperties
        self.environment = environment
    }

    public static func fromEnvironment(
        serviceName: String, defaultPort: Int,
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ServiceConfiguration {
        func port(_ text: String?) throws -> Int {
            guard let text else { return defaultPort }
            guard let value = Int(text), (0...65535).contains(value) else {
                throw ConfigurationError("PORT must be a port number, got \"\(text)\"")
            }
            return value
        }
        var kafkaProperties: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("KAFKA_PROPERTY_") {
            let property = name.dropFirst("KAFKA_PROPERTY_".count).lowercased().replacingOccurrences(of: "_", with: ".")
            kafkaProperties[property] = value
        }
        return ServiceConfiguration(
            serviceName: serviceName,
            host: environment["HOST"] ?? "127.0.0.1",
            port: try port(environment["PORT"]),
            kafkaBrokers: environment["KAFKA_BROKERS"] ?? "127.0.0.1:9092",
            topic: environment["KAFKA_TOPIC"] ?? "cinema",
            databasePath: environment["DATABASE_PATH"] ?? "data/\(serviceName).sqlite",
            logLevel: try logLevel(environment["LOG_LEVEL"]),
            kafkaProperties: kafkaProperties,
            environment: environment
        )
    }

    static func logLevel(_ text: String?) throws -> Logger.Level {
        guard let text else { return .info }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ConfigurationError("LOG_LEVEL must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
        }
        return level
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
