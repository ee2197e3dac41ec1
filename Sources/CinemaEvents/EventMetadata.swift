import Foundation

/// Identifies a message and the chain of work it belongs to. Travels as Kafka headers (never in
/// the JSON, whose shape belongs to the original system) and as `X-Correlation-Id` over HTTP.
public struct EventMetadata: Sendable, Equatable {
    public var correlationId: String
    /// The message id of the event whose handling caused this one, if any.
    public var causationId: String?

    public init(correlationId: String, causationId: String? = nil) {
        self.correlationId = correlationId
        self.causationId = causationId
    }

    public static func newCorrelation() -> EventMetadata {
        EventMetadata(correlationId: UUID().uuidString.lowercased())
    }
}

/// The Kafka header names every event carries; `kcat -J` shows them beside the value.
public enum MessageHeader {
    public static let messageId = "message-id"
    public static let correlationId = "correlation-id"
    public static let causationId = "causation-id"
    public static let eventType = "event-type"
    /// W3C trace context of the span that recorded the event; a consumer's span continues it.
    public static let traceParent = "traceparent"
    /// On a dead letter replayed to the topic: the one consumer group that should apply it again
    /// (the others applied it the first time, or skip it).
    public static let replayForGroup = "cinema-replay-group"
}

/// The headers a dead letter carries beside the original's (whose value and key it keeps).
public enum DeadLetterHeader {
    public static let originalTopic = "dlt-original-topic"
    public static let originalPartition = "dlt-original-partition"
    public static let originalOffset = "dlt-original-offset"
    public static let consumerGroup = "dlt-consumer-group"
    public static let error = "dlt-error"
    public static let attempts = "dlt-attempts"
    public static let failedAt = "dlt-failed-at"
}
