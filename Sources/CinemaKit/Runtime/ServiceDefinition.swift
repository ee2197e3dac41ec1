public import CinemaHTTP
public import Hummingbird
public import Logging
public import ServiceLifecycle

/// What makes one service different from the others; everything else is the kit's.
public struct ServiceDefinition: Sendable {
    public var name: String
    public var defaultPort: Int
    /// The service's own tables; the kit adds the outbox and the inbox.
    public var schema: [SchemaStep]
    /// How the service reacts to events (its `<X>Policies`).
    public var policies: EventHandlers
    /// The service's routes and its own long-running work, built once per process.
    public var components: @Sendable (ServiceEnvironment) throws -> ServiceComponents

    public init(
        name: String,
        defaultPort: Int,
        schema: [SchemaStep],
        policies: EventHandlers,
        components: @escaping @Sendable (ServiceEnvironment) throws -> ServiceComponents
    ) {
        self.name = name
        self.defaultPort = defaultPort
        self.schema = schema
        self.policies = policies
        self.components = components
    }
}

/// What a service adds to the kit's process: its controllers' routes, background work such as
/// reservation's payment reconciler, and details `/ready` shows without judging them (reservation's
/// payment circuit breaker).
public struct ServiceComponents {
    public var routes: [RouteCollection<BasicRequestContext>]
    public var backgroundServices: [any Service]
    public var readinessDetails: [(name: String, detail: Readiness.Detail)]
    /// Told of every message the consumer read and what became of it, after its transaction committed (viewpage's
    /// dashboard streams its changes and the latest events from here).
    public var messageObserver: MessageObserver?

    public init(
        routes: [RouteCollection<BasicRequestContext>], backgroundServices: [any Service] = [],
        readinessDetails: [(name: String, detail: Readiness.Detail)] = [], messageObserver: MessageObserver? = nil
    ) {
        self.routes = routes
        self.backgroundServices = backgroundServices
        self.readinessDetails = readinessDetails
        self.messageObserver = messageObserver
    }
}

/// What a service's components are built from.
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
