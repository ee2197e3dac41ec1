import CinemaEvents
public import Kafka

/// Where the outbox relay sends messages: the broker, in production and integration tests.
public protocol EventPublisher: Sendable {
    /// Hands the messages to the broker in this order and returns, per message, whether the
    /// broker acknowledged it.
    func publish(_ messages: [OutboxMessage], topic: String) async -> [Result<Void, any Error>]
    func isConnected() async -> Bool
    /// True for a failure that sending the same message again can never cure (the message itself
    /// is refused: too large, corrupt); the relay parks such a row instead of retrying it for ever.
    func isRejectedForGood(_ error: any Error) -> Bool
}

extension KafkaProducer: EventPublisher {
    /// Only refusals of the message itself count. A broker or configuration problem (a missing
    /// topic, authorisation, a broker that is away) would refuse every event alike; those are
    /// retried, so that fixing the problem lets the events through in order.
    public func isRejectedForGood(_ error: any Error) -> Bool {
        guard let error = error as? KafkaError else { return false }
        // MESSAGE_TOO_LARGE, then the broker's CORRUPT_MESSAGE (2), RECORD_LIST_TOO_LARGE (18)
        // and INVALID_RECORD (87).
        let messageRefusals: [KafkaError.Code] = [.messageSizeTooLarge, .other(2), .other(18), .other(87)]
        return messageRefusals.contains(error.code)
    }

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
        if let traceParent = message.traceParent {
            headers.append(KafkaHeader(key: MessageHeader.traceParent, value: Array(traceParent.utf8)))
        }
        return KafkaOutgoingMessage(
            topic: topic,
            key: Array(message.messageKey.utf8),
            value: Array(message.payload.utf8),
            headers: headers
        )
    }
}
