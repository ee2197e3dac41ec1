internal import CRdKafka

extension RDKafkaHandle {
    /// The mock cluster's bootstrap servers, for clients that should connect to it.
    func mockClusterBootstrapServers() throws(KafkaError) -> String {
        guard let mockCluster, let servers = rd_kafka_mock_cluster_bootstraps(mockCluster) else {
            throw KafkaError(.state, context: "client hosts no mock cluster")
        }
        return String(cString: servers)
    }

    /// Creates a topic on the mock cluster, with replication factor 1.
    func createMockTopic(_ name: String, partitions: Int32) throws(KafkaError) {
        guard let mockCluster else {
            throw KafkaError(.state, context: "client hosts no mock cluster")
        }
        let err = rd_kafka_mock_topic_create(mockCluster, name, partitions, 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, context: "creating mock topic \(name)")
        }
    }
}
