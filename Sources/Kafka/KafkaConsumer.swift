internal import CRdKafka
import Dispatch
public import Logging
public import ServiceLifecycle
import Synchronization

/// A group member that stores offsets only when told to (`storeOffset`) and commits them
/// periodically and on shutdown: at-least-once delivery of what the application processed.
public final class KafkaConsumer: Service, Sendable {
    enum Lifecycle { case idle, running, closing, closed }

    private let handle: RDKafkaHandle
    private let configuration: KafkaConsumerConfiguration
    private let logger: Logger
    private let lifecycle = Mutex(Lifecycle.idle)
    /// Serial on purpose: `rd_kafka_consumer_poll` and `rd_kafka_consumer_close` must not overlap,
    /// and all of them block, so none of them may run on the cooperative pool.
    private let queue: DispatchQueue
    private let probe: ConnectivityProbe

    /// Short enough that a close queued behind a poll waits at most this long.
    private static let pollTimeoutMilliseconds: Int32 = 100

    public init(configuration: KafkaConsumerConfiguration, logger: Logger) throws {
        let properties = KafkaDefaults.merge(
            defaults: [
                ("enable.auto.commit", "true"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("session.timeout.ms", "6000"),
                ("heartbeat.interval.ms", "2000"),
                ("enable.partition.eof", "false"),
            ],
            identity: [
                ("client.id", configuration.clientID),
                ("bootstrap.servers", configuration.bootstrapServers),
                ("group.id", configuration.groupID),
            ],
            overrides: configuration.properties
        )
        let handle = try RDKafkaHandle.make(
            kind: .consumer,
            properties: properties,
            context: ClientContext(logger: logger)
        )
        // Route rebalance and error events through consumer_poll, the one queue this class serves.
        rd_kafka_poll_set_consumer(handle.pointer)
        self.handle = handle
        self.configuration = configuration
        self.logger = logger
        self.queue = DispatchQueue(label: "kafka.consumer.\(configuration.clientID).poll")
        self.probe = ConnectivityProbe(label: "kafka.consumer.\(configuration.clientID).probe")
        KafkaDefaults.logCreation(
            handle, role: "consumer", bootstrapServers: configuration.bootstrapServers, logger: logger)
    }

    /// Messages of the subscribed topics, one per `next()`. Ends (returns nil) once the consumer
    /// shuts down or the iterating task is cancelled; transient errors are logged, not thrown.
    public var messages: KafkaConsumerMessages {
        KafkaConsumerMessages(consumer: self)
    }

    /// Marks the message processed, so a restarted group member resumes after it. Call it only
    /// once the message's effects are durable. Throws if the partition is no longer assigned.
    public func storeOffset(of message: KafkaConsumerMessage) throws {
        guard let list = rd_kafka_topic_partition_list_new(1) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, message: "rd_kafka_topic_partition_list_new failed")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        // The committed offset is the next one to read, hence +1.
        rd_kafka_topic_partition_list_add(list, message.topic, message.partition).pointee.offset = message.offset + 1
        let err = rd_kafka_offsets_store(handle.pointer, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, message: "storing offset for \(message.topic)[\(message.partition)]")
        }
        let partitionErr = list.pointee.elems[0].err
        if partitionErr != RD_KAFKA_RESP_ERR_NO_ERROR {
            // Typically __STATE: the partition was revoked by a rebalance or the consumer closed.
            throw KafkaError(partitionErr, message: "storing offset for \(message.topic)[\(message.partition)]")
        }
    }

    /// Subscribes, then waits for graceful shutdown or cancellation; then commits the stored
    /// offsets and closes, so the member leaves the group at once and `messages` ends.
    public func run() async throws {
        let started = lifecycle.withLock { state in
            guard state == .idle else { return false }
            state = .running
            return true
        }
        guard started else {
            throw KafkaError.wrongState("KafkaConsumer.run() called twice or after shutdown")
        }

        let topics = configuration.topics
        let subscribeError: KafkaError? = await queue.perform { [handle] in
            let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for topic in topics {
                rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
            }
            let err = rd_kafka_subscribe(handle.pointer, list)
            return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(err, message: "subscribe to \(topics)")
        }
        if let subscribeError {
            lifecycle.withLock { $0 = .closing }
            await close()
            throw subscribeError
        }
        logger.info(
            "kafka consumer subscribed",
            metadata: [
                "kafka.client": .string(handle.name),
                "kafka.group": .string(configuration.groupID),
                "kafka.topics": .array(topics.map { .string($0) }),
            ]
        )

        let shutdown = OneShotSignal()
        await withTaskCancellationOrGracefulShutdownHandler {
            await shutdown.wait()
        } onCancelOrGracefulShutdown: {
            shutdown.fire()
        }
        // From here on iteration ends; the close below is queued behind any poll in progress.
        lifecycle.withLock { $0 = .closing }
        await close()
    }

    private func close() async {
        let group = configuration.groupID
        await queue.perform { [handle, logger] in
            // Synchronous commit of the offsets stored via storeOffset, so nothing processed is lost
            // even if the close below fails; consumer_close then leaves the group at once instead
            // of letting the session time out.
            let commitErr = rd_kafka_commit(handle.pointer, nil, 0)
            if commitErr != RD_KAFKA_RESP_ERR_NO_ERROR && commitErr != RD_KAFKA_RESP_ERR__NO_OFFSET {
                logger.warning(
                    "kafka consumer final commit failed",
                    metadata: [
                        "kafka.client": .string(handle.name), "kafka.group": .string(group),
                        "kafka.error": .string(String(cString: rd_kafka_err2str(commitErr))),
                    ]
                )
            }
            let closeErr = rd_kafka_consumer_close(handle.pointer)
            if closeErr != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.warning(
                    "kafka consumer close failed",
                    metadata: [
                        "kafka.client": .string(handle.name),
                        "kafka.error": .string(String(cString: rd_kafka_err2str(closeErr))),
                    ]
                )
            }
        }
        lifecycle.withLock { $0 = .closed }
        logger.info(
            "kafka consumer closed",
            metadata: ["kafka.client": .string(handle.name), "kafka.group": .string(group)]
        )
    }

    /// Whether a broker answered a metadata request within 1 s (answer cached for 1 s).
    public func isConnected() async -> Bool {
        if isClosing { return false }
        return await probe.isConnected(handle)
    }

    private var isClosing: Bool {
        switch lifecycle.withLock({ $0 }) {
        case .closing, .closed: true
        case .idle, .running: false
        }
    }

    private enum PollResult: Sendable {
        case message(KafkaConsumerMessage)
        case nothing
        case closed
        case failed(KafkaError)
    }

    /// The next message, or nil once the consumer is closing or the caller was cancelled.
    func nextMessage() async throws -> KafkaConsumerMessage? {
        while true {
            if Task.isCancelled { return nil }
            let result = await queue.perform { [self] () -> PollResult in
                if isClosing { return .closed }
                guard let raw = rd_kafka_consumer_poll(handle.pointer, Self.pollTimeoutMilliseconds) else {
                    return .nothing
                }
                defer { rd_kafka_message_destroy(raw) }
                let err = raw.pointee.err
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    return Self.handlePollError(raw, logger: logger, client: handle.name)
                }
                let message = KafkaConsumerMessage(copying: raw)
                // Not yielded once closing: its offset could no longer be stored, and leaving it
                // unprocessed means the group simply re-delivers it.
                return isClosing ? .closed : .message(message)
            }
            switch result {
            case .message(let message): return message
            case .nothing: continue
            case .closed: return nil
            case .failed(let error): throw error
            }
        }
    }

    private static func handlePollError(
        _ raw: UnsafeMutablePointer<rd_kafka_message_t>,
        logger: Logger,
        client: String
    ) -> PollResult {
        let err = raw.pointee.err
        let topic = raw.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) }
        var metadata: Logger.Metadata = [
            "kafka.client": .string(client),
            "kafka.error.code": .stringConvertible(err.rawValue),
        ]
        if let topic {
            metadata["kafka.topic"] = .string(topic)
            metadata["kafka.partition"] = .stringConvertible(raw.pointee.partition)
        }
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
            logger.debug("kafka consumer reached end of partition", metadata: metadata)
            return .nothing
        }
        let text = String(cString: rd_kafka_message_errstr(raw))
        if err == RD_KAFKA_RESP_ERR__FATAL {
            logger.critical("kafka consumer fatal error: \(text)", metadata: metadata)
            return .failed(KafkaError(err, message: text))
        }
        logger.warning("kafka consumer error: \(text)", metadata: metadata)
        return .nothing
    }
}

extension KafkaConsumerMessage {
    /// Copies everything out of librdkafka's memory: the message is destroyed right after.
    fileprivate init(copying raw: UnsafeMutablePointer<rd_kafka_message_t>) {
        let message = raw.pointee
        func bytes(_ pointer: UnsafeRawPointer?, _ count: Int) -> [UInt8]? {
            guard let pointer else { return nil }
            return Array(UnsafeRawBufferPointer(start: pointer, count: count))
        }
        var headers: [KafkaHeader] = []
        var list: OpaquePointer?
        if rd_kafka_message_headers(raw, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers.append(KafkaHeader(key: name.map { String(cString: $0) } ?? "", value: bytes(value, size)))
                index += 1
            }
        }
        self.init(
            topic: message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
            partition: message.partition,
            offset: message.offset,
            key: bytes(message.key, message.key_len),
            value: bytes(message.payload, message.len) ?? [],
            headers: headers
        )
    }
}

/// Pull-based: each `next()` polls librdkafka once a message is wanted, so a slow handler simply
/// leaves messages in librdkafka's fetch queue (which applies its own limits) – natural backpressure.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage
    public typealias Failure = any Error

    let consumer: KafkaConsumer

    public struct AsyncIterator: AsyncIteratorProtocol, Sendable {
        let consumer: KafkaConsumer

        public mutating func next() async throws -> KafkaConsumerMessage? {
            try await consumer.nextMessage()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(consumer: consumer)
    }
}
