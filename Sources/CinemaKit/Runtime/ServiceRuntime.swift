import Foundation
public import Hummingbird
import Kafka
public import Logging
public import Prometheus
public import ServiceLifecycle

/// What makes one service different from the others; everything else is the kit's.
public struct ServiceDefinition: Sendable {
    public var name: String
    public var defaultPort: Int
    public var schema: [SchemaStep]
    public var handlers: EventHandlers
    /// Adds the service's own routes.
    public var routes: @Sendable (Router<BasicRequestContext>, ServiceEnvironment) throws -> Void
    /// Long-running work of the service's own (e.g. reservation's payment reconciler).
    public var backgroundServices: @Sendable (ServiceEnvironment) -> [any Service]

    public init(
        name: String,
        defaultPort: Int,
        schema: [SchemaStep],
        handlers: EventHandlers,
        backgroundServices: @escaping @Sendable (ServiceEnvironment) -> [any Service] = { _ in [] },
        routes: @escaping @Sendable (Router<BasicRequestContext>, ServiceEnvironment) throws -> Void
    ) {
        self.name = name
        self.defaultPort = defaultPort
        self.schema = schema
        self.handlers = handlers
        self.backgroundServices = backgroundServices
        self.routes = routes
    }
}

/// What a service's routes get to work with.
public struct ServiceEnvironment: Sendable {
    public var persistence: Persistence
    public var configuration: ServiceConfiguration
    public var logger: Logger

    public init(persistence: Persistence, configuration: ServiceConfiguration, logger: Logger) {
        self.persistence = persistence
        self.configuration = configuration
        self.logger = logger
    }
}

/// Named checks behind `GET /ready`.
public struct Readiness: Sendable {
    public var checks: [(name: String, check: @Sendable () async -> Bool)]

    public init(checks: [(name: String, check: @Sendable () async -> Bool)]) {
        self.checks = checks
    }

    public static let alwaysReady = Readiness(checks: [])

    func evaluate() async -> [(String, Bool)] {
        var results: [(String, Bool)] = []
        for (name, check) in checks { results.append((name, await check())) }
        return results
    }
}

public enum ServiceRuntime {
    /// The whole life of a service process: configuration, logging, metrics, store, Kafka,
    /// HTTP, and graceful shutdown on SIGTERM/SIGINT. Executables call only this.
    public static func main(_ definition: ServiceDefinition) async {
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration.fromEnvironment(serviceName: definition.name, defaultPort: definition.defaultPort)
        } catch {
            FileHandle.standardError.write(Data("\(definition.name): invalid configuration: \(error)\n".utf8))
            exit(2)
        }
        let registry = Observability.bootstrap(logLevel: configuration.logLevel)
        var logger = Logger(label: "cinema.\(definition.name)")
        logger[metadataKey: "service"] = "\(definition.name)"
        logger.info(
            "starting",
            metadata: [
                "kafka.library.version": "\(KafkaLibrary.versionString)",
                "kafka.brokers": "\(configuration.kafkaBrokers)",
                "database.path": "\(configuration.databasePath)",
                "http.port": "\(configuration.port)",
            ]
        )
        do {
            let app = try await buildApplication(definition, configuration: configuration, logger: logger, metrics: registry)
            try await app.runService()
            logger.info("stopped")
        } catch {
            logger.critical("service failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }

    public static func buildApplication(
        _ definition: ServiceDefinition,
        configuration: ServiceConfiguration,
        logger: Logger,
        metrics: PrometheusCollectorRegistry?
    ) async throws -> some ApplicationProtocol {
        let directory = URL(fileURLWithPath: configuration.databasePath).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try await SQLiteStore.open(path: configuration.databasePath, schema: definition.schema, logger: logger)

        let clientID = "cinema-\(definition.name)"
        // Deliveries time out (librdkafka retries until message.timeout.ms): a broker that stays
        // away shows as relay warnings and failure metrics, and the outbox keeps the events.
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                bootstrapServers: configuration.kafkaBrokers, clientID: clientID, properties: configuration.kafkaProperties
            ),
            logger: logger
        )
        let relay = OutboxRelay(store: store, publisher: producer, topic: configuration.topic, logger: logger)
        let persistence = Persistence(
            store: store,
            eventsCommitted: { relay.notifyPending() },
            waitForPublication: { seq, timeout in await relay.waitUntilPublished(through: seq, timeout: timeout) }
        )
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                bootstrapServers: configuration.kafkaBrokers, groupID: definition.name, topics: [configuration.topic],
                clientID: clientID, properties: configuration.kafkaProperties
            ),
            logger: logger
        )
        let processor = EventProcessor(persistence: persistence, handlers: definition.handlers, logger: logger)
        let consumerService = EventConsumerService(consumer: consumer, processor: processor, logger: logger)

        let environment = ServiceEnvironment(persistence: persistence, configuration: configuration, logger: logger)
        let readiness = Readiness(checks: [
            ("database", { await store.isHealthy() }),
            ("kafkaProducer", { await producer.isConnected() }),
            ("kafkaConsumer", { await consumer.isConnected() }),
            ("outbox", { relay.isFlowing() }),
        ])
        let router = try buildRouter(definition, environment: environment, readiness: readiness, metrics: metrics)
        // Shutdown runs in reverse: HTTP stops first, then the consumer loop finishes its message,
        // the consumer leaves its group, the relay drains the outbox, and the producer flushes.
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: clientID),
            services: [CloseStoreOnShutdown(store: store), producer, relay, consumer, consumerService]
                + definition.backgroundServices(environment),
            logger: logger
        )
    }

    /// The HTTP side of a service: its routes plus `/health`, `/ready` and `/metrics`, with JSON
    /// errors. Usable without Kafka, which is how the route tests build it.
    public static func buildRouter(
        _ definition: ServiceDefinition,
        environment: ServiceEnvironment,
        readiness: Readiness = .alwaysReady,
        metrics: PrometheusCollectorRegistry? = nil
    ) throws -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.addProbeRoutes(service: definition.name, readiness: readiness, metrics: metrics)
        try definition.routes(router, environment)
        return router
    }
}

/// Closes the database last, after every other service of the process has stopped.
struct CloseStoreOnShutdown: Service {
    let store: any Store

    func run() async throws {
        try? await gracefulShutdown()
        await store.close()
    }
}

extension RouterMethods {
    /// `GET /health` (liveness: the process answers), `GET /ready` (every readiness check passes,
    /// else 503 naming the failing one) and, with a registry, `GET /metrics` for Prometheus.
    public func addProbeRoutes(service: String, readiness: Readiness, metrics: PrometheusCollectorRegistry?) {
        get("health") { _, _ in
            JSONResponse.make(.object([("status", .string("UP")), ("service", .string(service))]))
        }
        get("ready") { _, _ -> Response in
            let results = await readiness.evaluate()
            let ready = results.allSatisfy(\.1)
            var members: [(String, JSONValue)] = [("status", .string(ready ? "UP" : "DOWN")), ("service", .string(service))]
            if !results.isEmpty {
                members.append(("checks", .object(results.map { ($0.0, .string($0.1 ? "UP" : "DOWN")) })))
            }
            return JSONResponse.make(.object(members), status: ready ? .ok : .serviceUnavailable)
        }
        if let metrics {
            get("metrics") { _, _ -> Response in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer()))
                )
            }
        }
    }
}
