/// Facts about the librdkafka that was actually loaded at run time, which may be newer than the
/// headers we compiled against (see ENVIRONMENT.md: LD_LIBRARY_PATH swaps in a newer library).
public enum KafkaLibrary {
    public static var versionString: String {
        RDKafkaLibrary.versionString
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
