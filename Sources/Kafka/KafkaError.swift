/// An error reported by librdkafka, or by this module on its behalf (shutdown, wrong state).
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public var code: Code
    public var message: String
    public var isRetriable: Bool
    /// librdkafka can flag an error object as fatal while its code names the underlying cause
    /// (`rd_kafka_error_is_fatal`); a bare code can only say `.fatal`.
    private var isFlaggedFatal: Bool

    public init(code: Code, message: String, isRetriable: Bool = false) {
        self.init(code: code, message: message, isRetriable: isRetriable, isFlaggedFatal: false)
    }

    init(code: Code, message: String, isRetriable: Bool, isFlaggedFatal: Bool) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
        self.isFlaggedFatal = isFlaggedFatal
    }

    /// The client can do nothing useful any more (e.g. the idempotent producer lost its
    /// guarantees); the application should recreate it, typically by restarting.
    public var isFatal: Bool { code == .fatal || isFlaggedFatal }

    public var description: String {
        var flags = ""
        if isFatal { flags += ", fatal" }
        if isRetriable { flags += ", retriable" }
        return "KafkaError(\(code.nameAndValue)\(flags)): \(message)"
    }

    static func shutDown(_ what: String) -> KafkaError {
        KafkaError(.destroyed, context: what)
    }

    static func wrongState(_ what: String) -> KafkaError {
        KafkaError(.state, context: what)
    }
}

extension KafkaError {
    /// librdkafka's `rd_kafka_resp_err_t`, with names for the codes this module and its callers act
    /// on and `.other` for the rest. Negative values are raised inside librdkafka ("local"
    /// errors), positive ones come from the broker (the Kafka protocol's error codes).
    ///
    /// The raw values are librdkafka's and are fixed by its ABI; a test compares each of them with
    /// the C headers and with `rd_kafka_err2name`. Equality and hashing go by raw value, so
    /// `.other(-184)` equals `.queueFull`.
    ///
    /// Deliberately not `CustomStringConvertible`: the default rendering is the case name
    /// (`messageTimedOut`, `other(-5)`), which is what logs and test failures should show.
    public enum Code: RawRepresentable, Sendable, Hashable {
        // Local errors.
        /// `_DESTROY`: the client has been, or is being, shut down.
        case destroyed
        /// `_FAIL`: a generic local failure (e.g. librdkafka could not allocate an object).
        case fail
        /// `_TRANSPORT`: a broker connection failed.
        case transport
        /// `_MSG_TIMED_OUT`: the message was not acknowledged within `message.timeout.ms`.
        case messageTimedOut
        /// `_PARTITION_EOF`: the consumer reached the end of a partition.
        case partitionEOF
        /// `_UNKNOWN_PARTITION`: the partition is not in the cluster's metadata.
        case unknownPartition
        /// `_UNKNOWN_TOPIC`: the topic is not in the cluster's metadata.
        case unknownTopic
        /// `_ALL_BROKERS_DOWN`: no broker is reachable at the moment.
        case allBrokersDown
        /// `_INVALID_ARG`: a bad argument, e.g. an unknown or malformed configuration property.
        case invalidArgument
        /// `_TIMED_OUT`: a local operation (flush, metadata request, ...) timed out.
        case timedOut
        /// `_QUEUE_FULL`: the producer's local queue is full; try again once it drains.
        case queueFull
        /// `_STATE`: the operation is not valid in the client's (or partition's) current state.
        case state
        /// `_NO_OFFSET`: there is no stored offset to commit.
        case noOffset
        /// `_TIMED_OUT_QUEUE`: the message timed out while still in the local queue.
        case timedOutQueue
        /// `_PURGE_QUEUE`: the message was purged from the local queue.
        case purgeQueue
        /// `_PURGE_INFLIGHT`: the message was purged while in flight.
        case purgeInflight
        /// `_FATAL`: a fatal error; see `KafkaError.isFatal`.
        case fatal

        // Broker errors.
        /// `UNKNOWN_TOPIC_OR_PART`
        case unknownTopicOrPartition
        /// `LEADER_NOT_AVAILABLE`
        case leaderNotAvailable
        /// `NOT_LEADER_FOR_PARTITION`
        case notLeaderForPartition
        /// `REQUEST_TIMED_OUT`
        case requestTimedOut
        /// `MSG_SIZE_TOO_LARGE`: the broker refuses a message this big; resending cannot help.
        case messageSizeTooLarge
        /// `NETWORK_EXCEPTION`
        case networkException
        /// `COORDINATOR_LOAD_IN_PROGRESS`
        case coordinatorLoadInProgress
        /// `COORDINATOR_NOT_AVAILABLE`
        case coordinatorNotAvailable
        /// `NOT_COORDINATOR`
        case notCoordinator
        /// `NOT_ENOUGH_REPLICAS`
        case notEnoughReplicas
        /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND`
        case notEnoughReplicasAfterAppend
        /// `OUT_OF_ORDER_SEQUENCE_NUMBER` (idempotent producer)
        case outOfOrderSequenceNumber
        /// `DUPLICATE_SEQUENCE_NUMBER` (idempotent producer)
        case duplicateSequenceNumber
        /// `INVALID_PRODUCER_EPOCH` (idempotent producer)
        case invalidProducerEpoch
        /// `INVALID_PRODUCER_ID_MAPPING` (idempotent producer)
        case invalidProducerIdMapping
        /// `UNKNOWN_PRODUCER_ID` (idempotent producer)
        case unknownProducerId

        /// Any code without a name here.
        case other(Int32)

        /// Every named case (all but `.other`), for tests and documentation. Add new cases here too.
        package static let allNamed: [Code] = [
            .destroyed, .fail, .transport, .messageTimedOut, .partitionEOF, .unknownPartition,
            .unknownTopic, .allBrokersDown, .invalidArgument, .timedOut, .queueFull, .state,
            .noOffset, .timedOutQueue, .purgeQueue, .purgeInflight, .fatal,
            .unknownTopicOrPartition, .leaderNotAvailable, .notLeaderForPartition, .requestTimedOut,
            .messageSizeTooLarge, .networkException, .coordinatorLoadInProgress,
            .coordinatorNotAvailable, .notCoordinator, .notEnoughReplicas,
            .notEnoughReplicasAfterAppend, .outOfOrderSequenceNumber, .duplicateSequenceNumber,
            .invalidProducerEpoch, .invalidProducerIdMapping, .unknownProducerId,
        ]

        /// Known codes become their named case, anything else `.other`.
        public init(rawValue: Int32) {
            switch rawValue {
            case -197: self = .destroyed
            case -196: self = .fail
            case -195: self = .transport
            case -192: self = .messageTimedOut
            case -191: self = .partitionEOF
            case -190: self = .unknownPartition
            case -188: self = .unknownTopic
            case -187: self = .allBrokersDown
            case -186: self = .invalidArgument
            case -185: self = .timedOut
            case -184: self = .queueFull
            case -172: self = .state
            case -168: self = .noOffset
            case -166: self = .timedOutQueue
            case -152: self = .purgeQueue
            case -151: self = .purgeInflight
            case -150: self = .fatal
            case 3: self = .unknownTopicOrPartition
            case 5: self = .leaderNotAvailable
            case 6: self = .notLeaderForPartition
            case 7: self = .requestTimedOut
            case 10: self = .messageSizeTooLarge
            case 13: self = .networkException
            case 14: self = .coordinatorLoadInProgress
            case 15: self = .coordinatorNotAvailable
            case 16: self = .notCoordinator
            case 19: self = .notEnoughReplicas
            case 20: self = .notEnoughReplicasAfterAppend
            case 45: self = .outOfOrderSequenceNumber
            case 46: self = .duplicateSequenceNumber
            case 47: self = .invalidProducerEpoch
            case 49: self = .invalidProducerIdMapping
            case 59: self = .unknownProducerId
            default: self = .other(rawValue)
            }
        }

        public var rawValue: Int32 {
            switch self {
            case .destroyed: -197
            case .fail: -196
            case .transport: -195
            case .messageTimedOut: -192
            case .partitionEOF: -191
            case .unknownPartition: -190
            case .unknownTopic: -188
            case .allBrokersDown: -187
            case .invalidArgument: -186
            case .timedOut: -185
            case .queueFull: -184
            case .state: -172
            case .noOffset: -168
            case .timedOutQueue: -166
            case .purgeQueue: -152
            case .purgeInflight: -151
            case .fatal: -150
            case .unknownTopicOrPartition: 3
            case .leaderNotAvailable: 5
            case .notLeaderForPartition: 6
            case .requestTimedOut: 7
            case .messageSizeTooLarge: 10
            case .networkException: 13
            case .coordinatorLoadInProgress: 14
            case .coordinatorNotAvailable: 15
            case .notCoordinator: 16
            case .notEnoughReplicas: 19
            case .notEnoughReplicasAfterAppend: 20
            case .outOfOrderSequenceNumber: 45
            case .duplicateSequenceNumber: 46
            case .invalidProducerEpoch: 47
            case .invalidProducerIdMapping: 49
            case .unknownProducerId: 59
            case .other(let rawValue): rawValue
            }
        }

        public static func == (lhs: Code, rhs: Code) -> Bool {
            lhs.rawValue == rhs.rawValue
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(rawValue)
        }

        /// The case name and the raw value, e.g. `messageTimedOut (-192)`; just the value if unnamed.
        var nameAndValue: String {
            switch Code(rawValue: rawValue) {
            case .other(let rawValue): "\(rawValue)"
            case let named: "\(named) (\(rawValue))"
            }
        }

        /// Whether sending the same message again can reasonably succeed, judged from the code
        /// alone: delivery reports carry nothing else. (`rd_kafka_error_t` objects say it
        /// themselves, and that answer is preferred where there is one.)
        var suggestsRetry: Bool {
            switch self {
            case .messageTimedOut, .timedOut, .transport, .allBrokersDown, .queueFull, .purgeQueue,
                .purgeInflight, .timedOutQueue, .requestTimedOut, .networkException,
                .leaderNotAvailable, .notLeaderForPartition, .notEnoughReplicas,
                .notEnoughReplicasAfterAppend, .unknownTopicOrPartition, .coordinatorLoadInProgress,
                .coordinatorNotAvailable, .notCoordinator:
                true
            default:
                false
            }
        }
    }
}
