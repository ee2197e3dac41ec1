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

extension RDKafkaHandle {
    /// `rd_kafka_mock_push_request_errors_array` (the array form: Swift cannot call the variadic one).
    /// Without a mock cluster there is nothing to fail: a no-op.
    func pushMockRequestErrors(apiKey: Int16, errors: [KafkaError.Code]) {
        guard let mockCluster, !errors.isEmpty else { return }
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0.rawValue) }
        rd_kafka_mock_push_request_errors_array(mockCluster, apiKey, codes.count, codes)
    }

    func clearMockRequestErrors(apiKey: Int16) {
        guard let mockCluster else { return }
        rd_kafka_mock_clear_request_errors(mockCluster, apiKey)
    }
}
