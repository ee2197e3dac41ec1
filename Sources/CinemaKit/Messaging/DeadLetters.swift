public import CinemaEvents
import Foundation
public import Kafka

/// Where events that cannot be applied go: a Kafka topic beside the main one (`cinema.DLT`),
/// value and key unchanged, with headers saying where each came from and why it failed.
public protocol DeadLetterPublisher: Sendable {
    /// Returns once the broker acknowledged the letter; throws if it did not.
    func publish(_ message: IncomingMessage, reason: String, attempts: Int, group: String) async throws
}

/// Publishes dead letters with the service's producer.
public struct KafkaDeadLetterPublisher: DeadLetterPublisher {
    let producer: KafkaProducer
    let topic: String

    public init(producer: KafkaProducer, topic: String) {
        self.producer = producer
        self.topic = topic
    }

    public func publish(_ message: IncomingMessage, reason: String, attempts: Int, group: String) async throws {
        _ = try await producer.send(Self.letter(for: message, topic: topic, reason: reason, attempts: attempts, group: group))
    }

    /// The original's headers first (its message id among them, so a replay is recognised by the
    /// groups that applied it), then the letter's own.
    static func letter(for message: IncomingMessage, topic: String, reason: String, attempts: Int, group: String) -> KafkaOutgoingMessage {
        var headers = message.headers.sorted { $0.key < $1.key }.map { KafkaHeader(key: $0.key, value: Array($0.value.utf8)) }
        if message.headers[MessageHeader.messageId] == nil {
            // An event without an id is known to the inboxes by its position; keep it for a replay.
            headers.append(KafkaHeader(key: MessageHeader.messageId, value: Array(message.messageId.utf8)))
        }
        let own: [(String, String)] = [
            (DeadLetterHeader.originalTopic, message.topic),
            (DeadLetterHeader.originalPartition, String(message.partition)),
            (DeadLetterHeader.originalOffset, String(message.offset)),
            (DeadLetterHeader.consumerGroup, group),
            (DeadLetterHeader.error, String(reason.prefix(2000))),
            (DeadLetterHeader.attempts, String(attempts)),
            (DeadLetterHeader.failedAt, EventTimestamp.now()),
        ]
        headers += own.map { KafkaHeader(key: $0.0, value: Array($0.1.utf8)) }
        return KafkaOutgoingMessage(topic: topic, key: message.key, value: message.value, headers: headers)
    }
}
