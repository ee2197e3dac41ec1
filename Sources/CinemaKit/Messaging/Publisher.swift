public import Kafka

/// Where the outbox relay sends messages: the broker, in production and integration tests.
public protocol EventPublisher: Sendable {
    /// Returns once the broker acknowledged the message; throws if it did not.
    func publish(_ message: OutboxMessage, topic: String) async throws
    func isConnected() async -> Bool
}

extension KafkaProducer: EventPublisher {
    public func publish(_ message: OutboxMessage, topic: String) async throws {
        var headers = [
            KafkaHeader(key: MessageHeader.messageId, value: Array(message.messageId.utf8)),
            KafkaHeader(key: MessageHeader.correlationId, value: Array(message.correlationId.utf8)),
            KafkaHeader(key: MessageHeader.eventType, value: Array(message.eventType.utf8)),
        ]
        if let causationId = message.causationId {
            headers.append(KafkaHeader(key: MessageHeader.causationId, value: Array(causationId.utf8)))
        }
        _ = try await send(
            KafkaOutgoingMessage(
                topic: topic,
                key: Array(message.messageKey.utf8),
                value: Array(message.payload.utf8),
                headers: headers
            )
        )
    }
}
