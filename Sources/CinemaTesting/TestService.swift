public import CinemaEvents
import CinemaHTTP
public import CinemaJSON
public import CinemaKit
public import Foundation
public import Hummingbird
public import HummingbirdTesting
public import Logging

/// One service as its unit tests see it: its real router and real policy handlers over a real
/// SQLite file in a temporary folder, with the outbox left unpublished so tests can read what
/// the service would announce. With `CINEMA_TEST_DATABASE_URL` (a PostgreSQL server, as
/// `make test` sets for its second pass) each test service gets a fresh PostgreSQL database
/// instead: the same tests prove the same repository code on both engines.
public struct TestService: Sendable {
    public let definition: ServiceDefinition
    public let store: any Store
    public let persistence: Persistence
    public let environment: ServiceEnvironment
    public let processor: EventProcessor

    public init(_ definition: ServiceDefinition, environment overrides: [String: String] = [:]) async throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("cinema-\(definition.name)-\(UUID().uuidString).sqlite").path
        let logger = Logger(label: "test.\(definition.name)")
        self.definition = definition
        self.store = try await Self.openStore(path: path, schema: MessagingSchema.steps + definition.schema, logger: logger)
        self.persistence = Persistence(store: store)
        let configuration = ServiceConfiguration(
            serviceName: definition.name, port: 0, databasePath: path, environment: overrides
        )
        self.environment = ServiceEnvironment(persistence: persistence, configuration: configuration, logger: logger)
        self.processor = EventProcessor(
            persistence: persistence, handlers: definition.policies, logger: logger, group: definition.name, maxAttempts: 2,
            initialBackoff: .milliseconds(1)
        )
    }

    /// The engine under test: SQLite, or PostgreSQL when `CINEMA_TEST_DATABASE_URL` names a server.
    public static func openStore(path: String, schema: [SchemaStep], logger: Logger) async throws -> any Store {
        guard let server = ProcessInfo.processInfo.environment["CINEMA_TEST_DATABASE_URL"], !server.isEmpty else {
            return try await SQLiteStore.open(path: path, schema: schema, logger: logger)
        }
        let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await PostgresStore.createDatabase(name, serverURL: server, logger: logger)
        return try await PostgresStore.open(
            url: try PostgresURL.replacingDatabase(in: server, with: name), schema: schema, logger: logger, maximumConnections: 4)
    }

    /// The service's HTTP side, for `app.test(.router)`.
    public func application() throws -> some ApplicationProtocol {
        Application(router: try router())
    }

    /// The service's routes with the kit's middleware and probe routes, as the runtime builds them
    /// (`/ready` has no checks here, no Kafka being connected, but shows the service's details).
    public func router() throws -> Router<BasicRequestContext> {
        let components = try definition.components(environment)
        return ServiceRuntime.buildRouter(
            service: definition.name, routes: components.routes, readiness: Readiness(checks: [], details: components.readinessDetails))
    }

    /// Delivers an event as the consumer would, with a fresh message id unless one is given.
    @discardableResult
    public func deliver<Kind: EventKind>(_ event: Event<Kind>, messageId: String = UUID().uuidString) async throws -> ProcessingOutcome {
        await processor.process(
            IncomingMessage(
                topic: "cinema", partition: 0, offset: 0, key: Array(String(event.movieId).utf8),
                value: try event.encodedJSON(), headers: [MessageHeader.messageId: messageId]
            )
        )
    }

    /// What the service has recorded for publication, oldest first, as (eventType, JSON).
    public func recordedEvents() async throws -> [(type: String, json: JSONValue)] {
        try await store.read { database in
            try await OutboxRepository.pending(limit: 10_000, on: database)
        }.map { ($0.eventType, try JSONValue.parse(Array($0.payload.utf8))) }
    }

    public func recordedEventTypes() async throws -> [String] {
        try await recordedEvents().map(\.type)
    }
}

/// A request's response as JSON, for compact assertions.
public struct JSONReply: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var json: JSONValue?
}

extension TestClientProtocol {
    /// Sends `body` (JSON text) and returns the status, headers and parsed body.
    public func send(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil) async throws -> JSONReply {
        try await execute(
            uri: uri, method: method,
            headers: body == nil ? [:] : [.contentType: "application/json"],
            body: body.map { ByteBuffer(string: $0) }
        ) { response in
            JSONReply(
                status: response.status, headers: response.headers, json: try? JSONValue.parse(Array(response.body.readableBytesView)))
        }
    }
}
