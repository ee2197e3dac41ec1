internal import CRdKafka

extension RDKafkaHandle {
    /// Whether a broker answers a metadata request within `timeout`. Blocks for up to `timeout`,
    /// so call it off the cooperative pool.
    func answersMetadataRequest(timeout: Duration) -> Bool {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        // all_topics=0 without a topic handle asks only for the locally known topics: a cheap
        // request that still needs a live broker to answer.
        let err = rd_kafka_metadata(pointer, 0, nil, &metadata, timeout.librdkafkaMilliseconds)
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        return err == RD_KAFKA_RESP_ERR_NO_ERROR
    }
}
