public import Kafka
public import Logging
public import ServiceLifecycle

/// Feeds a consumer's messages through the processor, one at a time so each movie's events are
/// applied in order, and stores a message's offset only after its outcome is committed.
public struct EventConsumerService: Service {
    let consumer: KafkaConsumer
    let processor: EventProcessor
    let logger: Logger

    public init(consumer: KafkaConsumer, processor: EventProcessor, logger: Logger) {
        self.consumer = consumer
        self.processor = processor
        self.logger = logger
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
            if await processor.process(incoming) == .abandoned {
                // Nothing after it may be applied before it: stop here, store nothing.
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
}
