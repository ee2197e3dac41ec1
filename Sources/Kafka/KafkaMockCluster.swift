public import Logging

/// Test support: librdkafka's in-process mock cluster, shared by any number of producers and
/// consumers through `bootstrapServers` (unlike `test.mock.num.brokers`, which gives each client a
/// private cluster). Not a real broker: use it for unit tests only.
public final class KafkaMockCluster: Sendable {
    /// Kafka protocol requests whose answers can be faked with `failNextRequests`.
    public enum Request: Sendable {
        case produce

        /// The Kafka protocol's ApiKey.
        var apiKey: Int16 {
            switch self {
            case .produce: 0
            }
        }
    }

    private let handle: RDKafkaHandle
    public let bootstrapServers: String

    public init(brokers: Int = 1, logger: Logger = Logger(label: "kafka.mock")) throws(KafkaError) {
        // librdkafka hosts a mock cluster inside a client instance; an otherwise idle producer
        // without bootstrap servers serves as that host.
        let handle = try RDKafkaHandle.make(
            kind: .producer,
            // The host never connects anywhere, so its "no bootstrap.servers" notice is noise.
            properties: [("client.id", "kafka-mock-cluster"), ("log_level", "4")],
            context: ClientContext(logger: logger, repeatedLineWindow: .seconds(30)),
            hostMockCluster: brokers
        )
        self.handle = handle
        self.bootstrapServers = try handle.mockClusterBootstrapServers()
    }

    public func createTopic(_ name: String, partitions: Int32) throws(KafkaError) {
        try handle.createMockTopic(name, partitions: partitions)
    }

    /// The next `errors.count` requests of this kind, from any client, are answered with these
    /// errors, one each, in order; later ones are served normally again. `.transport` makes the
    /// broker drop the connection instead.
    public func failNextRequests(_ request: Request, with errors: [KafkaError.Code]) {
        handle.pushMockRequestErrors(apiKey: request.apiKey, errors: errors)
    }

    /// Forgets the errors `failNextRequests` queued that have not been used yet.
    public func clearRequestErrors(_ request: Request) {
        handle.clearMockRequestErrors(apiKey: request.apiKey)
    }
}
