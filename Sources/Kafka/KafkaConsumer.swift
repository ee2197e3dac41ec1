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
    /// Not `queue`: a lag sample must not wait for a poll's timeout.
    private let lagQueue: DispatchQueue
    /// Polled, not yet handed to the application. Kept here rather than in an iterator, so that a message is never
    /// lost with an iterator dropped early. Refilled only once empty. A rebalance is served inside a poll, so one of a
    /// trip's later polls can revoke the partition of a message an earlier poll of the same trip brought back: that
    /// message is still handed out and its offset can no longer be stored, as for a message handed out just before a
    /// rebalance; the partition's next owner reads it again, and an at-least-once reader (the services' inbox)
    /// absorbs the repeat.
    private let polled = Mutex(PolledMessages())

    /// Throws `KafkaError` with code `.invalidArgument` for a property librdkafka does not know or
    /// accept, or for contradicting ones.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger) throws(KafkaError) {
        let handle = try RDKafkaHandle.make(
            kind: .consumer,
            properties: configuration.librdkafkaProperties(),
            context: ClientContext(logger: logger, repeatedLineWindow: configuration.repeatedLogWindow)
        )
        try handle.routeEventsToConsumerPoll()
        self.handle = handle
        self.configuration = configuration
        self.logger = logger
        self.queue = DispatchQueue(label: "kafka.consumer.\(configuration.clientID).poll")
        self.probe = ConnectivityProbe(label: "kafka.consumer.\(configuration.clientID).probe")
        self.lagQueue = DispatchQueue(label: "kafka.consumer.\(configuration.clientID).lag")
        logger.logCreation(of: handle, role: "consumer", bootstrapServers: configuration.bootstrapServers)
    }

    /// Messages of the subscribed topics, one per `next()`. Ends (returns nil) once the consumer
    /// shuts down or the iterating task is cancelled; transient errors are logged, not thrown.
    public var messages: KafkaConsumerMessages {
        KafkaConsumerMessages(consumer: self)
    }

    /// Marks the message processed, so a restarted group member resumes after it. Call it only
    /// once the message's effects are durable. Throws if the partition is no longer assigned.
    public func storeOffset(of message: KafkaConsumerMessage) throws(KafkaError) {
        // The committed offset is the next one to read, hence +1.
        try handle.storeOffset(topic: message.topic, partition: message.partition, nextOffset: message.offset + 1)
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
        let subscribeError = await queue.perform { [handle] () -> KafkaError? in
            do throws(KafkaError) {
                try handle.subscribe(to: topics)
                return nil
            } catch {
                return error
            }
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

        await withDiscardingTaskGroup { group in
            // What `storeOffset` marked is committed every `commitInterval` (librdkafka's own auto
            // commit is off, see KafkaConsumerConfiguration).
            group.addTask { [self, interval = configuration.commitInterval] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    // Without a broker the commit could only wait for a coordinator; the next
                    // one after the broker is back commits everything stored meanwhile.
                    guard await probe.isConnected(handle) else { continue }
                    await queue.perform { [handle] in handle.commitStoredOffsetsInBackground() }
                }
            }
            // Returns on graceful shutdown and throws on cancellation: either way it is time to close.
            try? await gracefulShutdown()
            group.cancelAll()
        }
        // From here on iteration ends; the close below is queued behind any poll in progress.
        lifecycle.withLock { $0 = .closing }
        await close()
    }

    private func close() async {
        let group = configuration.groupID
        // With no broker to answer, a synchronous commit only waits (seconds) for a coordinator
        // that is not there, delaying the shutdown; the offsets stored since the last periodic
        // commit are then delivered again after the restart, which at-least-once readers absorb.
        let canCommit = await probe.isConnected(handle)
        await queue.perform { [handle, logger] in
            // Synchronous commit of the offsets stored via storeOffset, so nothing processed is lost
            // even if the close below fails; consumer_close then leaves the group at once instead
            // of letting the session time out.
            guard canCommit else {
                // Leaving the group would wait for the coordinator just the same; the group drops
                // this member after its session timeout instead.
                logger.notice(
                    "no broker answers: leaving without the final commit and the group goodbye",
                    metadata: ["kafka.client": .string(handle.name), "kafka.group": .string(group)]
                )
                handle.skipConsumerCloseOnDestroy()
                return
            }
            if let commitError = handle.commitStoredOffsets(), commitError.code != .noOffset {
                logger.warning(
                    "kafka consumer final commit failed",
                    metadata: [
                        "kafka.client": .string(handle.name), "kafka.group": .string(group),
                        "kafka.error": .string(commitError.description),
                    ]
                )
            }
            if let closeError = handle.closeConsumer() {
                logger.warning(
                    "kafka consumer close failed",
                    metadata: [
                        "kafka.client": .string(handle.name),
                        "kafka.error": .string(closeError.description),
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

    /// The lag of each assigned partition (high watermark minus the position handed to the application), from what
    /// librdkafka last fetched; empty before the first assignment or after close.
    public func partitionLags() async -> [KafkaPartitionLag] {
        if isClosing { return [] }
        let lags = await lagQueue.perform { [self] in handle.assignedPartitionLags() }
        // librdkafka counts a polled message as handed over; here it is only once `next()` returned it.
        let waiting = polled.withLock { $0.countsByPartition() }
        return lags.map { lag in
            var lag = lag
            lag.lag += waiting[PartitionKey(topic: lag.topic, partition: lag.partition)] ?? 0
            return lag
        }
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
        /// At least one message, oldest first, and a fatal error met after them, if any.
        case messages([KafkaConsumerMessage], then: KafkaError?)
        case nothing
        case closed
        case failed(KafkaError)
    }

    /// The next message, or nil once the consumer is closing or the caller was cancelled.
    func nextMessage() async throws -> KafkaConsumerMessage? {
        while true {
            if Task.isCancelled { return nil }
            // Not handed out once closing: its offset could no longer be stored, and leaving it unprocessed means the
            // group simply re-delivers it.
            if isClosing { return nil }
            switch try polled.withLock({ try $0.next() }) {
            case let message?: return message
            case nil: break
            }
            let limit = max(1, configuration.maxMessagesPerPoll)
            let result = await queue.perform { [self] () -> PollResult in
                if isClosing { return .closed }
                var batch: [KafkaConsumerMessage] = []
                // The first poll waits; the others only collect what is already fetched.
                while batch.count < limit {
                    switch handle.consumerPoll(timeout: batch.isEmpty ? configuration.pollTimeout : .zero) {
                    case .nothing:
                        return batch.isEmpty ? .nothing : .messages(batch, then: nil)
                    case .message(let message):
                        batch.append(message)
                    case .error(let error, let topic, let partition):
                        let outcome = Self.handlePollError(error, topic: topic, partition: partition, logger: logger, client: handle.name)
                        switch outcome {
                        case .failed(let fatal) where !batch.isEmpty: return .messages(batch, then: fatal)
                        case _ where batch.isEmpty: return outcome
                        default: return .messages(batch, then: nil)
                        }
                    }
                }
                return .messages(batch, then: nil)
            }
            switch result {
            case .messages(let batch, let failure):
                if isClosing { return nil }
                polled.withLock { $0.refill(with: batch.dropFirst(), then: failure) }
                return batch[0]
            case .nothing: continue
            case .closed: return nil
            case .failed(let error): throw error
            }
        }
    }

    /// Decides what an error event means for iteration: most are transient (librdkafka recovers
    /// on its own) and only logged; a fatal one ends iteration with the error.
    private static func handlePollError(
        _ error: KafkaError,
        topic: String?,
        partition: Int32,
        logger: Logger,
        client: String
    ) -> PollResult {
        var metadata: Logger.Metadata = [
            "kafka.client": .string(client),
            "kafka.error.code": .stringConvertible(error.code.rawValue),
        ]
        if let topic {
            metadata["kafka.topic"] = .string(topic)
            metadata["kafka.partition"] = .stringConvertible(partition)
        }
        switch error.code {
        case .partitionEOF:
            logger.debug("kafka consumer reached end of partition", metadata: metadata)
            return .nothing
        case _ where error.isFatal:
            logger.critical("kafka consumer fatal error: \(error.message)", metadata: metadata)
            return .failed(error)
        default:
            logger.warning("kafka consumer error: \(error.message)", metadata: metadata)
            return .nothing
        }
    }
}

/// What one trip to the poll queue brought back and `next()` has not handed out yet.
struct PolledMessages: Sendable {
    /// Newest first, so that handing out the oldest is a `popLast`.
    private var waiting: [KafkaConsumerMessage] = []
    /// Met after the waiting messages: thrown once they are handed out.
    private var failure: KafkaError?

    mutating func refill(with messages: ArraySlice<KafkaConsumerMessage>, then failure: KafkaError?) {
        waiting = messages.reversed()
        self.failure = failure
    }

    /// The oldest waiting message; nil when none waits; the failure that came after them, once.
    mutating func next() throws(KafkaError) -> KafkaConsumerMessage? {
        if let message = waiting.popLast() { return message }
        if let failure {
            self.failure = nil
            throw failure
        }
        return nil
    }

    func countsByPartition() -> [PartitionKey: Int64] {
        waiting.reduce(into: [:]) { counts, message in
            counts[PartitionKey(topic: message.topic, partition: message.partition), default: 0] += 1
        }
    }
}

struct PartitionKey: Hashable {
    let topic: String
    let partition: Int32
}

/// Pull-based: a `next()` that finds no polled message waiting polls librdkafka (bringing back what
/// it has already fetched, up to `maxMessagesPerPoll`), so a slow handler simply leaves messages in
/// librdkafka's fetch queue (which applies its own limits) – natural backpressure.
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

/// How far one partition's consumer is behind its log's end.
public struct KafkaPartitionLag: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var lag: Int64
}
