public import CinemaHTTP
import CinemaProcess
import Foundation
public import Hummingbird
import Kafka
public import Logging
public import Prometheus
public import ServiceLifecycle
import UnixSignals

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
        let observability: (metrics: PrometheusCollectorRegistry, tracing: (any Service)?)
        do {
            observability = try Observability.bootstrap(
                logLevel: configuration.logLevel, serviceName: "cinema-\(definition.name)",
                environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("\(definition.name): invalid configuration: \(error)\n".utf8))
            exit(2)
        }
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
            let group = try await buildServiceGroup(
                definition, configuration: configuration, logger: logger, metrics: observability.metrics,
                traceExport: observability.tracing)
            try await group.run()
            logger.info("stopped")
        } catch {
            // Reached after an orderly shutdown of everything else: the store is closed last.
            logger.critical("service failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }

    /// PostgreSQL when `DATABASE_URL` names one (replicas share it), else the SQLite file.
    static func openStore(
        _ definition: ServiceDefinition, configuration: ServiceConfiguration, logger: Logger
    ) async throws
        -> any Store
    {
        let schema = MessagingSchema.steps + definition.schema
        if let url = configuration.databaseURL {
            logger.info("database: PostgreSQL", metadata: ["database.url": "\(PostgresURL.redacted(url))"])
            return try await PostgresStore.open(url: url, schema: schema, logger: logger)
        }
        let directory = URL(fileURLWithPath: configuration.databasePath).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try await SQLiteStore.open(
            path: configuration.databasePath, schema: schema, logger: logger, readerCount: configuration.sqliteReaders)
    }

    /// Everything one service process runs. A part that fails or ends shuts the others down
    /// gracefully, in reverse order of this list (HTTP first, the store last), and the group then
    /// throws, so the process exits non-zero after an orderly close.
    public static func buildServiceGroup(
        _ definition: ServiceDefinition,
        configuration: ServiceConfiguration,
        logger: Logger,
        metrics: PrometheusCollectorRegistry?,
        traceExport: (any Service)? = nil
    ) async throws -> ServiceGroup {
        let store = try await openStore(definition, configuration: configuration, logger: logger)

        let clientID = "cinema-\(definition.name)"
        // Deliveries time out (librdkafka retries until the delivery timeout): a broker that stays
        // away shows as relay warnings and failure metrics, and the outbox keeps the events.
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                bootstrapServers: configuration.kafkaBrokers, clientID: clientID,
                properties: configuration.kafkaProperties.merging(configuration.producerProperties) { _, specific in specific }
            ),
            logger: logger
        )
        // On a shared database the rows may come from another replica, whose commit this relay is
        // not told of: it looks more often.
        let relay = OutboxRelay(
            store: store, publisher: producer, topic: configuration.topic, logger: logger,
            idlePollInterval: store is PostgresStore ? .milliseconds(100) : .seconds(1)
        )
        let persistence = Persistence(
            store: store,
            eventsCommitted: { relay.notifyPending() },
            waitForPublication: { seq, timeout in await relay.waitUntilPublished(through: seq, timeout: timeout) }
        )
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                bootstrapServers: configuration.kafkaBrokers, groupID: configuration.consumerGroup, topics: [configuration.topic],
                clientID: clientID,
                properties: configuration.kafkaProperties.merging(configuration.consumerProperties) { _, specific in specific }
            ),
            logger: logger
        )
        let processor = EventProcessor(
            persistence: persistence, handlers: definition.policies, logger: logger, group: configuration.consumerGroup)
        let environment = ServiceEnvironment(persistence: persistence, configuration: configuration, logger: logger)
        let components = try definition.components(environment)
        let deadLetters = KafkaDeadLetterPublisher(producer: producer, topic: configuration.deadLetterTopic)
        let consumerService = EventConsumerService(
            consumer: consumer, processor: processor, deadLetters: deadLetters, logger: logger, observer: components.messageObserver)
        let kafkaChecks: [(name: String, check: Readiness.Check)] = [
            ("kafkaProducer", { await producer.isConnected() }),
            ("kafkaConsumer", { await consumer.isConnected() }),
            ("outbox", { relay.isFlowing() }),
        ]
        // READY_REQUIRES_KAFKA=false (the cluster): a broker outage shows in /ready's details, in
        // /metrics and in the logs, but leaves the pods in their Services; writes wait in the outbox.
        let kafkaDetails: [(name: String, detail: Readiness.Detail)] = kafkaChecks.map { name, check in
            (name, { await check() ? "UP" : "DOWN" })
        }
        let databaseCheck: Readiness.Check = { await store.isHealthy() }
        let readiness = Readiness(
            checks: [("database", databaseCheck)] + (configuration.readyRequiresKafka ? kafkaChecks : []),
            // What a service shows beside the checks (reservation: its payment circuit breaker).
            details: (configuration.readyRequiresKafka ? [] : kafkaDetails) + components.readinessDetails
        )
        let router = buildRouter(service: definition.name, routes: components.routes, readiness: readiness, metrics: metrics)
        let http = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: clientID),
            logger: logger
        )
        // Shutdown runs in reverse: the deadline starts counting, HTTP stops, background work ends,
        // the consumer loop finishes its message, the consumer leaves its group, the relay drains
        // the outbox, the producer flushes, and the store closes.
        // The span exporter, when OTEL_TRACES_EXPORTER asks for one, stops last and flushes what the others traced.
        let parts: [any Service] =
            (traceExport.map { [$0] } ?? [])
            + [CloseStoreOnShutdown(store: store), producer, relay, consumer, consumerService, ConsumerLagMetrics(consumer: consumer)]
            + components.backgroundServices + [http]
        var group = ServiceGroupConfiguration(
            services: parts.map {
                .init(
                    service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
            } + [.init(service: ShutdownDeadline(timeout: configuration.shutdownTimeout, logger: logger))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // A part stuck in its graceful shutdown is cancelled before the deadline exits the process.
        group.maximumGracefulShutdownDuration = max(configuration.shutdownTimeout - .seconds(1), configuration.shutdownTimeout / 2)
        return ServiceGroup(configuration: group)
    }

    /// The HTTP side of a service: its controllers' routes plus `/health`, `/ready` and
    /// `/metrics`, with JSON errors. Usable without Kafka, which is how the route tests build it.
    public static func buildRouter(
        service: String,
        routes: [RouteCollection<BasicRequestContext>],
        readiness: Readiness = .alwaysReady,
        metrics: PrometheusCollectorRegistry? = nil
    ) -> Router<BasicRequestContext> {
        // HEAD wherever GET is, as the gateway's `Allow: GET, HEAD` promises for /payments.
        let router = Router(options: .autoGenerateHeadEndpoints)
        // Outermost: a server span continuing the caller's `traceparent` (the gateway's span) or starting a trace, so
        // every log line of the request, and every event it records, carries the trace id.
        router.add(middleware: ServerSpanMiddleware())
        router.add(middleware: JSONErrorMiddleware())
        router.add(middleware: MetricsMiddleware())
        // Innermost: the metrics count a thrown error by its status only when it is an HTTP
        // error, and counted every domain error (a 404, 409, 422) as a 500.
        router.add(middleware: APIErrorConversionMiddleware())
        router.addProbeRoutes(service: service, readiness: readiness, metrics: metrics)
        for collection in routes {
            router.addRoutes(collection)
        }
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
