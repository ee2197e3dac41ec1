internal import CRdKafka

// The consumer's librdkafka calls. `consumerPoll` and `closeConsumer` must not overlap, and all
// of these but `storeOffset` block: KafkaConsumer runs them on its one serial queue.

/// What one `rd_kafka_consumer_poll` produced, already copied out of librdkafka's memory.
enum ConsumerPollOutcome: Sendable {
    case message(KafkaConsumerMessage)
    /// The timeout passed without a message or event.
    case nothing
    /// An error event; `topic` is set (with `partition`) when it concerns one partition.
    case error(KafkaError, topic: String?, partition: Int32)
}

extension RDKafkaHandle {
    /// Routes rebalance and error events through `consumerPoll`, the one queue a consumer serves.
    func routeEventsToConsumerPoll() throws(KafkaError) {
        let err = rd_kafka_poll_set_consumer(pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, context: "rd_kafka_poll_set_consumer")
        }
    }

    func subscribe(to topics: [String]) throws(KafkaError) {
        guard let list = rd_kafka_topic_partition_list_new(Int32(clamping: topics.count)) else {
            throw KafkaError(.fail, context: "rd_kafka_topic_partition_list_new failed")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        }
        let err = rd_kafka_subscribe(pointer, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, context: "subscribe to \(topics)")
        }
    }

    /// Waits up to `timeout` for the next message or event. Blocks.
    func consumerPoll(timeout: Duration) -> ConsumerPollOutcome {
        guard let raw = rd_kafka_consumer_poll(pointer, timeout.librdkafkaMilliseconds) else {
            return .nothing
        }
        defer { rd_kafka_message_destroy(raw) }
        let err = raw.pointee.err
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let code = KafkaError.Code(err)
            let error = KafkaError(
                code: code,
                message: String(cString: rd_kafka_message_errstr(raw)),
                isRetriable: code.suggestsRetry
            )
            let topic = raw.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) }
            return .error(error, topic: topic, partition: raw.pointee.partition)
        }
        return .message(KafkaConsumerMessage(copying: raw))
    }

    /// Stores `nextOffset` as the partition's position to commit: the offset of the next message
    /// to read, i.e. one past the last one processed. Does not block.
    func storeOffset(topic: String, partition: Int32, nextOffset: Int64) throws(KafkaError) {
        let what = "storing offset for \(topic)[\(partition)]"
        guard let list = rd_kafka_topic_partition_list_new(1) else {
            throw KafkaError(.fail, context: "rd_kafka_topic_partition_list_new failed")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        guard let entry = rd_kafka_topic_partition_list_add(list, topic, partition) else {
            throw KafkaError(.fail, context: "rd_kafka_topic_partition_list_add failed")
        }
        entry.pointee.offset = nextOffset
        let err = rd_kafka_offsets_store(pointer, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, context: what)
        }
        // The call as a whole can succeed while the partition's own entry failed.
        let partitionErr = entry.pointee.err
        if partitionErr != RD_KAFKA_RESP_ERR_NO_ERROR {
            // Typically __STATE: the partition was revoked by a rebalance or the consumer closed.
            throw KafkaError(partitionErr, context: what)
        }
    }

    /// Synchronously commits the offsets stored so far. Blocks. `.noOffset` means nothing was
    /// stored since the last commit.
    func commitStoredOffsets() -> KafkaError? {
        let err = rd_kafka_commit(pointer, nil, 0)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(err, context: "commit")
    }

    /// Starts committing the stored offsets and returns at once; a failure shows in the next one.
    func commitStoredOffsetsInBackground() {
        _ = rd_kafka_commit(pointer, nil, 1)
    }

    /// Leaves the group at once (instead of letting the session time out). Blocks.
    func closeConsumer() -> KafkaError? {
        let err = rd_kafka_consumer_close(pointer)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(err, context: "consumer close")
    }
}

extension RDKafkaHandle {
    /// For each partition assigned to this member whose position and high watermark are known: how many messages
    /// of it the application has not been handed yet. Uses only what librdkafka already holds (the position of the
    /// last message handed out, the watermark of the last fetch), so it asks no broker; still a librdkafka call, so
    /// callers run it off the cooperative pool.
    func assignedPartitionLags() -> [KafkaPartitionLag] {
        var assignment: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard rd_kafka_assignment(pointer, &assignment) == RD_KAFKA_RESP_ERR_NO_ERROR, let assignment else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(assignment) }
        guard rd_kafka_position(pointer, assignment) == RD_KAFKA_RESP_ERR_NO_ERROR else { return [] }
        var lags: [KafkaPartitionLag] = []
        for index in 0..<Int(assignment.pointee.cnt) {
            let entry = assignment.pointee.elems[index]
            var low: Int64 = 0
            var high: Int64 = 0
            guard entry.offset >= 0,
                rd_kafka_get_watermark_offsets(pointer, entry.topic, entry.partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR,
                high >= 0
            else { continue }
            lags.append(
                KafkaPartitionLag(topic: String(cString: entry.topic), partition: entry.partition, lag: max(0, high - entry.offset)))
        }
        return lags
    }
}
