internal import CRdKafka

/// Facts about the librdkafka that was actually loaded at run time, which may be newer than the
/// headers we compiled against (see ENVIRONMENT.md: LD_LIBRARY_PATH swaps in a newer library).
public enum KafkaLibrary {
    public static var versionString: String {
        String(cString: rd_kafka_version_str())
    }
}

public struct KafkaHeader: Sendable, Hashable {
    public var key: String
    /// `nil` is a Kafka "null" header value, distinct from an empty one.
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

extension Array where Element == KafkaHeader {
    /// Kafka allows repeated header keys; callers of this helper want the first one.
    public func value(forKey key: String) -> String? {
        guard let header = first(where: { $0.key == key }), let bytes = header.value else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// The raw value of librdkafka's `rd_kafka_resp_err_t`.
    public var code: Int32
    public var message: String
    public var isRetriable: Bool

    public init(code: Int32, message: String, isRetriable: Bool = false) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
    }

    public var description: String {
        "KafkaError(\(code)\(isRetriable ? ", retriable" : "")): \(message)"
    }
}

extension KafkaError {
    init(_ err: rd_kafka_resp_err_t, message: String? = nil) {
        let text = String(cString: rd_kafka_err2str(err))
        self.init(
            code: err.rawValue,
            message: message.map { "\($0): \(text)" } ?? text,
            isRetriable: Self.isRetriable(err)
        )
    }

    /// Takes ownership of `error` (destroys it).
    init(consuming error: OpaquePointer) {
        defer { rd_kafka_error_destroy(error) }
        self.init(
            code: rd_kafka_error_code(error).rawValue,
            message: String(cString: rd_kafka_error_string(error)),
            isRetriable: rd_kafka_error_is_retriable(error) != 0
        )
    }

    static func shutDown(_ what: String) -> KafkaError {
        KafkaError(RD_KAFKA_RESP_ERR__DESTROY, message: what)
    }

    static func wrongState(_ what: String) -> KafkaError {
        KafkaError(RD_KAFKA_RESP_ERR__STATE, message: what)
    }

    /// Delivery reports carry only a bare error code, so retriability has to be judged from the
    /// code: these are the ones where sending the same message again can reasonably succeed.
    private static func isRetriable(_ err: rd_kafka_resp_err_t) -> Bool {
        switch err {
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT,
            RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
            RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__PURGE_QUEUE,
            RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
            RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
            return true
        default:
            return false
        }
    }
}

public struct KafkaProducerConfiguration: Sendable {
    public var bootstrapServers: String
    public var clientID: String
    /// Extra librdkafka properties; applied after the defaults so they can override them.
    public var properties: [String: String]

    public init(bootstrapServers: String, clientID: String, properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.properties = properties
    }
}

public struct KafkaOutgoingMessage: Sendable {
    public var topic: String
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }
}

public struct KafkaDeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

public struct KafkaConsumerConfiguration: Sendable {
    public var bootstrapServers: String
    public var groupID: String
    public var topics: [String]
    public var clientID: String
    /// Extra librdkafka properties; applied after the defaults so they can override them.
    public var properties: [String: String]

    public init(
        bootstrapServers: String,
        groupID: String,
        topics: [String],
        clientID: String,
        properties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
        self.topics = topics
        self.clientID = clientID
        self.properties = properties
    }
}

public struct KafkaConsumerMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(
        topic: String,
        partition: Int32,
        offset: Int64,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader]
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
    }
}
