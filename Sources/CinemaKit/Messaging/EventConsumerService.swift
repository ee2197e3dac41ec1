public import Kafka
public import Logging
public import ServiceLifecycle

/// Feeds a consumer's messages through the processor, one at a time so each movie's events are
/// applied in order, and stores a message's offset only after its outcome is durable: applied
/// (committed) or dead-lettered (acknowledged by the broker).
public struct EventConsumerService: Service {
    let consumer: KafkaConsumer
    let processor: EventProcessor
    let deadLetters: any DeadLetterPublisher
    let logger: Logger
    let observer: MessageObserver?

    public init(
        consumer: KafkaConsumer, processor: EventProcessor, deadLetters: any DeadLetterPublisher, logger: Logger,
        observer: MessageObserver? = nil
    ) {
        self.consumer = consumer
        self.processor = processor
        self.deadLetters = deadLetters
        self.logger = logger
        self.observer = observer
    }

    public func run() async throws {
        for try await message in consumer.messages.cancelOnGracefulShutdown() {
            var headers: [String: String] = [:]
            for header in message.headers where headers[header.key] == nil {
                headers[header.key] = header.value.map { String(decoding: $0, as: UTF8.self) }
            }
            let incoming = IncomingMessage(
                topic: message.topic, partition: message.partition, offset: message.offset,
                key: message.key, value: message.value, headers: headers
            )
            let outcome = await processor.process(incoming)
            // After the commit (an applied event is visible to readers), before the next message; an abandoned one
            // comes again after the restart and is told of then.
            if outcome != .abandoned { await observer?(incoming, outcome) }
            switch outcome {
            case .abandoned:
                // Nothing after it may be applied before it: stop here, store nothing.
                return
            case .deadLetter(let reason, let attempts):
                guard await deliverDeadLetter(incoming, reason: reason, attempts: attempts) else { return }
            case .applied, .duplicate, .ignored:
                break
            }
            do {
                try consumer.storeOffset(of: message)
            } catch {
                // Typically a rebalance took the partition away while the event was applied (a
                // member joining in a rolling deploy). Its new owner reads it again from the last
                // committed offset, and the inbox recognises it: nothing is applied twice.
                logger.notice(
                    "offset not stored; the partition's next owner reads the event again",
                    metadata: [
                        "kafka.partition": "\(message.partition)", "kafka.offset": "\(message.offset)", "error": "\(error)",
                    ]
                )
            }
        }
    }

    /// Publishes the letter, retrying with back-off until the broker acknowledges it: until then
    /// the offset is not stored, so the event is never skipped silently. False when shutdown came
    /// first; the event is then delivered again after the restart.
    private func deliverDeadLetter(_ message: IncomingMessage, reason: String, attempts: Int) async -> Bool {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                // Shutdown stops the wait (a broker that is away would hold it for the whole
                // delivery timeout); the letter may still arrive, and a repeat after the restart
                // is harmless.
                try await cancelWhenGracefulShutdown {
                    try await deadLetters.publish(message, reason: reason, attempts: attempts, group: processor.group)
                }
                logger.notice(
                    "event dead-lettered",
                    metadata: ["kafka.partition": "\(message.partition)", "kafka.offset": "\(message.offset)", "reason": "\(reason)"]
                )
                return true
            } catch  where Task.isShuttingDownGracefully || Task.isCancelled {
                return false
            } catch {
                let delay = backoff.next()
                logger.error(
                    "dead letter not published; the event's offset is held until it is",
                    metadata: ["kafka.offset": "\(message.offset)", "error": "\(error)", "retry.in_ms": "\(delay.milliseconds)"]
                )
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
        return false
    }
}

/// Called with each consumed message and its outcome once that outcome is durable; it must not fail or hold the
/// consumer long (it runs before the next message).
public typealias MessageObserver = @Sendable (IncomingMessage, ProcessingOutcome) async -> Void
