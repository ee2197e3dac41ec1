import CinemaEvents
public import Kafka

/// Where the outbox relay sends messages: the broker, in production and integration tests.
public protocol EventPublisher: Sendable {
    /// Hands the messages to the broker in this order and returns, per message, whether the
    /// broker acknowledged it.
    func publish(_ messages: [OutboxMessage], topic: String) async -> [Result<Void, any Error>]
    func isConnected() async -> Bool
}

extension KafkaProducer: EventPublisher {
    public func publish(_ messages: [OutboxMessage], topic: String) async -> [Result<Void, any Error>] {
        await send(inOrder: messages.map { Self.kafkaMessage($0, topic: topic) }).map { $0.map { _ in () } }
    }

    static func kafkaMessage(_ message: OutboxMessage, topic: String) -> KafkaOutgoingMessage {
        var headers = [
            KafkaHeader(key: MessageHeader.messageId, value: Array(message.messageId.utf8)),
            KafkaHeader(key: MessageHeader.correlationId, value: Array(message.correlationId.utf8)),
            KafkaHeader(key: MessageHeader.eventType, value: Array(message.eventType.utf8)),
        ]
        if let causationId = message.causationId {
            headers.append(KafkaHeader(key: MessageHeader.causationId, value: Array(causationId.utf8)))
        }
        return KafkaOutgoingMessage(
            topic: topic,
            key: Array(message.messageKey.utf8),
            value: Array(message.payload.utf8),
            headers: headers
        )
    }
}
