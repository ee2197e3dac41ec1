internal import CRdKafka
public import Logging

/// Test support: librdkafka's in-process mock cluster, shared by any number of producers and
/// consumers through `bootstrapServers` (unlike `test.mock.num.brokers`, which gives each client a
/// private cluster). Not a real broker: use it for unit tests only.
public final class KafkaMockCluster: Sendable {
    private let handle: RDKafkaHandle
    public let bootstrapServers: String

    public init(brokers: Int = 1, logger: Logger = Logger(label: "kafka.mock")) throws {
        // librdkafka hosts a mock cluster inside a client instance; an otherwise idle producer
        // without bootstrap servers serves as that host.
        let handle = try RDKafkaHandle.make(
            kind: .producer,
            // The host never connects anywhere, so its "no bootstrap.servers" notice is noise.
            properties: [("client.id", "kafka-mock-cluster"), ("log_level", "4")],
            context: ClientContext(logger: logger),
            hostMockCluster: brokers
        )
        self.handle = handle
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(handle.mockCluster!))
    }

    public func createTopic(_ name: String, partitions: Int32) throws {
        let err = rd_kafka_mock_topic_create(handle.mockCluster!, name, partitions, 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, message: "creating mock topic \(name)")
        }
    }
}
