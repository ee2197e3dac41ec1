internal import CRdKafka

// Between librdkafka's error representations and `KafkaError`.

extension KafkaError {
    /// For a bare error code (return values, delivery reports). The message is librdkafka's text
    /// for the code, prefixed with what we were doing, if given.
    init(_ err: rd_kafka_resp_err_t, context: String? = nil) {
        self.init(KafkaError.Code(err), context: context)
    }

    init(_ code: Code, context: String? = nil) {
        let text = code.librdkafkaDescription
        self.init(
            code: code,
            message: context.map { "\($0): \(text)" } ?? text,
            isRetriable: code.suggestsRetry
        )
    }

    /// For an `rd_kafka_error_t`, which knows itself whether it is retriable or fatal. Takes
    /// ownership of `error` (destroys it).
    init(consuming error: OpaquePointer) {
        defer { rd_kafka_error_destroy(error) }
        self.init(
            code: Code(rd_kafka_error_code(error)),
            message: String(cString: rd_kafka_error_string(error)),
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            isFlaggedFatal: rd_kafka_error_is_fatal(error) != 0
        )
    }
}

extension KafkaError.Code {
    init(_ err: rd_kafka_resp_err_t) {
        self.init(rawValue: err.rawValue)
    }

    /// librdkafka's human-readable text for the code (`rd_kafka_err2str`).
    var librdkafkaDescription: String {
        String(cString: rd_kafka_err2str(rd_kafka_resp_err_t(rawValue: rawValue)))
    }

    /// librdkafka's symbolic name for the code (`rd_kafka_err2name`), e.g. `_QUEUE_FULL`, as the
    /// library loaded at run time knows it. Lets tests check the hard-coded raw values.
    package var librdkafkaName: String {
        String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: rawValue)))
    }

    /// The raw value of the named case's constant in the headers we compiled against; for `.other`
    /// its own value. The switch is exhaustive, so a new case cannot go without its constant.
    package var headerRawValue: Int32 {
        let constant: rd_kafka_resp_err_t
        switch self {
        case .destroyed: constant = RD_KAFKA_RESP_ERR__DESTROY
        case .fail: constant = RD_KAFKA_RESP_ERR__FAIL
        case .transport: constant = RD_KAFKA_RESP_ERR__TRANSPORT
        case .messageTimedOut: constant = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT
        case .partitionEOF: constant = RD_KAFKA_RESP_ERR__PARTITION_EOF
        case .unknownPartition: constant = RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION
        case .unknownTopic: constant = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC
        case .allBrokersDown: constant = RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
        case .invalidArgument: constant = RD_KAFKA_RESP_ERR__INVALID_ARG
        case .timedOut: constant = RD_KAFKA_RESP_ERR__TIMED_OUT
        case .queueFull: constant = RD_KAFKA_RESP_ERR__QUEUE_FULL
        case .state: constant = RD_KAFKA_RESP_ERR__STATE
        case .noOffset: constant = RD_KAFKA_RESP_ERR__NO_OFFSET
        case .timedOutQueue: constant = RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE
        case .purgeQueue: constant = RD_KAFKA_RESP_ERR__PURGE_QUEUE
        case .purgeInflight: constant = RD_KAFKA_RESP_ERR__PURGE_INFLIGHT
        case .fatal: constant = RD_KAFKA_RESP_ERR__FATAL
        case .unknownTopicOrPartition: constant = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
        case .leaderNotAvailable: constant = RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE
        case .notLeaderForPartition: constant = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION
        case .requestTimedOut: constant = RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT
        case .messageSizeTooLarge: constant = RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
        case .networkException: constant = RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION
        case .coordinatorLoadInProgress: constant = RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS
        case .coordinatorNotAvailable: constant = RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE
        case .notCoordinator: constant = RD_KAFKA_RESP_ERR_NOT_COORDINATOR
        case .notEnoughReplicas: constant = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS
        case .notEnoughReplicasAfterAppend: constant = RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND
        case .outOfOrderSequenceNumber: constant = RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER
        case .duplicateSequenceNumber: constant = RD_KAFKA_RESP_ERR_DUPLICATE_SEQUENCE_NUMBER
        case .invalidProducerEpoch: constant = RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH
        case .invalidProducerIdMapping: constant = RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING
        case .unknownProducerId: constant = RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID
        case .other(let rawValue): return rawValue
        }
        return constant.rawValue
    }
}
