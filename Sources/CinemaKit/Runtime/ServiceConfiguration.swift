import CinemaProcess
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
    /// Where events that cannot be applied go (`KAFKA_DLT_TOPIC`, default `<topic>.DLT`).
    public var deadLetterTopic: String
    /// The consumer group (`KAFKA_GROUP_ID`, default the service's name). Another one reads the
    /// topic from its beginning, as the view rebuild does, without disturbing the live group.
    public var consumerGroup: String
    public var databasePath: String
    /// `DATABASE_URL` (`postgres://…`): the service keeps its state in PostgreSQL, shared by its
    /// replicas, instead of the SQLite file at `databasePath`.
    public var databaseURL: String?
    /// SQLite's reader connections (`SQLITE_READERS`, 0 to 16, default 2); 0 reads on the writer's
    /// connection, behind its transactions, as before readers existed (to compare, or to save file handles).
    public var sqliteReaders: Int
    /// Whether `/ready` fails while Kafka does (`READY_REQUIRES_KAFKA`, default true). false in a
    /// cluster: writes wait safely in the outbox, and a broker outage must not empty every Service.
    public var readyRequiresKafka: Bool
    public var logLevel: Logger.Level
    /// How long a shutdown may take before the process exits regardless (`SHUTDOWN_TIMEOUT_SECONDS`).
    public var shutdownTimeout: Duration
    /// librdkafka properties for both clients, from `KAFKA_PROPERTY_<NAME>`.
    public var kafkaProperties: [String: String]
    /// librdkafka properties for the producer only (`KAFKA_PRODUCER_PROPERTY_<NAME>`), or the
    /// consumer only (`KAFKA_CONSUMER_PROPERTY_<NAME>`); they win over `kafkaProperties`.
    public var producerProperties: [String: String]
    public var consumerProperties: [String: String]
    /// The raw environment, for service-specific settings (e.g. reservation's `PAYMENT_URL`).
    public var environment: [String: String]

    public init(
        serviceName: String, host: String = "127.0.0.1", port: Int, kafkaBrokers: String = "127.0.0.1:9092",
        topic: String = "cinema", deadLetterTopic: String? = nil, consumerGroup: String? = nil, databasePath: String,
        databaseURL: String? = nil, sqliteReaders: Int = 2, readyRequiresKafka: Bool = true, logLevel: Logger.Level = .info,
        shutdownTimeout: Duration = .seconds(10),
        kafkaProperties: [String: String] = [:], producerProperties: [String: String] = [:],
        consumerProperties: [String: String] = [:], environment: [String: String] = [:]
    ) {
        self.serviceName = serviceName
        self.host = host
        self.port = port
        self.kafkaBrokers = kafkaBrokers
        self.topic = topic
        self.deadLetterTopic = deadLetterTopic ?? "\(topic).DLT"
        self.consumerGroup = consumerGroup ?? serviceName
        self.databasePath = databasePath
        self.databaseURL = databaseURL
        self.sqliteReaders = sqliteReaders
        self.readyRequiresKafka = readyRequiresKafka
        self.logLevel = logLevel
        self.shutdownTimeout = shutdownTimeout
        self.kafkaProperties = kafkaProperties
        self.producerProperties = producerProperties
        self.consumerProperties = consumerProperties
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
        return ServiceConfiguration(
            serviceName: serviceName,
            host: environment["HOST"] ?? "127.0.0.1",
            port: try port(environment["PORT"]),
            kafkaBrokers: environment["KAFKA_BROKERS"] ?? "127.0.0.1:9092",
            topic: environment["KAFKA_TOPIC"] ?? "cinema",
            deadLetterTopic: environment["KAFKA_DLT_TOPIC"],
            consumerGroup: try consumerGroup(environment["KAFKA_GROUP_ID"]),
            databasePath: environment["DATABASE_PATH"] ?? "data/\(serviceName).sqlite",
            databaseURL: environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 },
            sqliteReaders: try sqliteReaders(environment["SQLITE_READERS"]),
            readyRequiresKafka: try flag("READY_REQUIRES_KAFKA", environment["READY_REQUIRES_KAFKA"], default: true),
            logLevel: try Observability.logLevel(environment["LOG_LEVEL"]),
            shutdownTimeout: try ShutdownDeadline.timeout(fromEnvironment: environment["SHUTDOWN_TIMEOUT_SECONDS"]),
            kafkaProperties: kafkaProperties(withPrefix: "KAFKA_PROPERTY_", in: environment),
            producerProperties: kafkaProperties(withPrefix: "KAFKA_PRODUCER_PROPERTY_", in: environment),
            consumerProperties: kafkaProperties(withPrefix: "KAFKA_CONSUMER_PROPERTY_", in: environment),
            environment: environment
        )
    }

    static func sqliteReaders(_ text: String?) throws -> Int {
        guard let text, !text.isEmpty else { return 2 }
        guard let value = Int(text), (0...16).contains(value) else {
            throw ConfigurationError("SQLITE_READERS must be a whole number from 0 to 16, got \"\(text)\"")
        }
        return value
    }

    static func flag(_ name: String, _ text: String?, default defaultValue: Bool) throws -> Bool {
        switch text?.trimmingCharacters(in: .whitespaces).lowercased() {
        case nil, "": return defaultValue
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        case let other?: throw ConfigurationError("\(name) must be true or false, got \"\(other)\"")
        }
    }

    /// Kafka takes any non-empty group id up to 255 characters; spaces and controls would only
    /// make it hard to name in a shell.
    static func consumerGroup(_ text: String?) throws -> String? {
        guard let text else { return nil }
        guard !text.isEmpty, text.count <= 255, text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw ConfigurationError("KAFKA_GROUP_ID must be 1 to 255 printable ASCII characters without spaces, got \"\(text)\"")
        }
        return text
    }

    /// Environment names cannot hold dots, and librdkafka names hold both dots and underscores
    /// (`log_level`, `ssl.key.location`): after the prefix, `_` stands for `.` and `__` for `_`,
    /// so `KAFKA_PROPERTY_LINGER_MS=1` sets `linger.ms` and `KAFKA_PROPERTY_LOG__LEVEL=7` sets
    /// `log_level`.
    static func kafkaProperties(withPrefix prefix: String, in environment: [String: String]) -> [String: String] {
        var properties: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix(prefix) && name.count > prefix.count {
            properties[kafkaPropertyName(environmentSuffix: name.dropFirst(prefix.count))] = value
        }
        return properties
    }

    static func kafkaPropertyName(environmentSuffix suffix: Substring) -> String {
        suffix.lowercased()
            .split(separator: "__", omittingEmptySubsequences: false)
            .map { $0.replacingOccurrences(of: "_", with: ".") }
            .joined(separator: "_")
    }
}
