import CinemaEvents
import CinemaTracing
import Foundation
import Instrumentation
public import Logging
import Metrics
import ServiceLifecycle
import Tracing

/// One message as the processor sees it, independent of the Kafka client.
public struct IncomingMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [String: String]

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8], headers: [String: String]) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The producer's message id, or the message's position for producers that send none.
    public var messageId: String {
        headers[MessageHeader.messageId] ?? "\(topic)-\(partition)-\(offset)"
    }
}

/// What became of one message.
public enum ProcessingOutcome: Sendable, Equatable {
    case applied
    case duplicate
    case ignored
    /// Cannot be applied (unreadable, or its handler kept failing): it goes to the dead-letter
    /// topic, and only then may its offset be stored.
    case deadLetter(reason: String, attempts: Int)
    /// Left unapplied because the service is shutting down mid-retry: its offset must not be
    /// stored, so the group delivers it again after the restart.
    case abandoned
}

/// Applies incoming events exactly once: the inbox row, the handler's effect and the events it
/// causes commit together. A handler that fails is retried with back-off; one that still fails,
/// or an event that cannot be read, is a dead letter (`EventConsumerService` publishes it to the
/// dead-letter topic) so it never blocks the partition and is never silently dropped.
public struct EventProcessor: Sendable {
    public let persistence: Persistence
    public let handlers: EventHandlers
    public let logger: Logger
    /// The consumer group this processor applies events for: a replayed dead letter is applied
    /// only by the group it names.
    public let group: String
    public var maxAttempts: Int
    public var initialBackoff: Duration

    private static let applied = Counter(label: "cinema_events_applied_total")

    /// Counts a handled event by type and outcome (`applied`, `duplicate`, `dead_lettered`), and dead letters by type.
    /// Only types this service handles are named (an unreadable message counts as `unreadable`): the type comes from
    /// the message, and a label must not take whatever a producer writes.
    private static func count(_ outcome: String, eventType: String) {
        Counter(label: "cinema_events_consumed_total", dimensions: [("event_type", eventType), ("outcome", outcome)]).increment()
        if outcome == "dead_lettered" {
            Counter(label: "cinema_events_dead_lettered_total", dimensions: [("event_type", eventType)]).increment()
        }
    }

    public init(
        persistence: Persistence,
        handlers: EventHandlers,
        logger: Logger,
        group: String,
        maxAttempts: Int = 12,
        initialBackoff: Duration = .milliseconds(50)
    ) {
        self.persistence = persistence
        self.handlers = handlers
        self.logger = logger
        self.group = group
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
    }

    /// Processes the message in a consumer span continuing the trace of its `traceparent` header (a new trace when it
    /// has none or an invalid one): the handler's log lines and the events it records belong to the same trace as the
    /// request that began the saga.
    public func process(_ message: IncomingMessage) async -> ProcessingOutcome {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(message.headers, into: &context, using: HeaderDictionaryExtractor())
        let span = startSpan("consume \(message.topic)", context: context, ofKind: .consumer)
        defer { span.end() }
        return await ServiceContext.withValue(span.context) { await processInSpan(message) }
    }

    private func processInSpan(_ message: IncomingMessage) async -> ProcessingOutcome {
        var logger = self.logger
        logger[metadataKey: "kafka.topic"] = "\(message.topic)"
        logger[metadataKey: "kafka.partition"] = "\(message.partition)"
        logger[metadataKey: "kafka.offset"] = "\(message.offset)"
        logger[metadataKey: "message.id"] = "\(message.messageId)"

        // Checked before anything is read: a replayed letter may be unreadable for everyone.
        if let replayedFor = message.headers[MessageHeader.replayForGroup], replayedFor != group {
            logger.trace("dead letter replayed for another group")
            return .ignored
        }
        let eventType: String
        do {
            eventType = try EventEnvelopeHead.decode(fromJSON: message.value).eventType
        } catch {
            return deadLetter(reason: "not an event: \(error)", attempts: 0, eventType: "unreadable", logger: logger)
        }
        logger[metadataKey: "event.type"] = "\(eventType)"
        guard let handler = handlers.handler(for: eventType) else {
            logger.trace("event type not handled here")
            return .ignored
        }
        if let correlationId = message.headers[MessageHeader.correlationId] {
            logger[metadataKey: "correlation.id"] = "\(correlationId)"
        }

        let metadata = EventMetadata(
            correlationId: message.headers[MessageHeader.correlationId] ?? message.messageId,
            causationId: message.messageId
        )
        var backoff = Backoff(initial: initialBackoff, maximum: .seconds(5))
        var attempt = 0
        while true {
            attempt += 1
            do {
                let handlerLogger = logger
                let applied = try await persistence.transaction(metadata: metadata) { database, events in
                    guard try await InboxRepository.markApplied(messageId: message.messageId, eventType: eventType, on: database) else {
                        return false
                    }
                    let context = HandlerContext(database: database, events: events, messageId: message.messageId, logger: handlerLogger)
                    try await handler(message.value, context)
                    return true
                }
                if applied {
                    Self.applied.increment()
                    Self.count("applied", eventType: eventType)
                    // Info: one line per event and service is the saga's trail that `make trace` follows.
                    logger.info("event applied")
                    return .applied
                }
                Self.count("duplicate", eventType: eventType)
                logger.debug("duplicate delivery; already applied")
                return .duplicate
            } catch let error as MalformedEvent {
                return deadLetter(reason: error.reason, attempts: attempt, eventType: eventType, logger: logger)
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled {
                    logger.notice("shutting down; event left for redelivery", metadata: ["error": "\(error)"])
                    return .abandoned
                }
                guard attempt < maxAttempts else {
                    return deadLetter(
                        reason: "failed after \(attempt) attempts: \(error)", attempts: attempt, eventType: eventType, logger: logger)
                }
                let delay = backoff.next()
                logger.notice("event handler failed; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                // Shutdown cuts the back-off short; the check above then abandons the event.
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
    }

    private func deadLetter(reason: String, attempts: Int, eventType: String, logger: Logger) -> ProcessingOutcome {
        logger.error("event cannot be applied; dead-lettering it", metadata: ["reason": "\(reason)", "attempts": "\(attempts)"])
        Self.count("dead_lettered", eventType: eventType)
        return .deadLetter(reason: reason, attempts: attempts)
    }
}
