import CinemaEvents
import CinemaKit
import CinemaTracing
import Foundation
import Kafka
import Logging
import Synchronization
import Testing

/// A trace crosses the broker: the outbox row remembers the span that recorded the event, the relay writes it as the
/// `traceparent` header (real librdkafka, its mock cluster), and the consumer's processor continues it into the
/// events its handler records. The event JSON stays as it was.
@Suite struct TracePropagationTests {
    let logger = Logger(label: "test")
    static let origin = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    init() { TraceLogging.bootstrapInstrumentation() }

    static func movie(_ movieId: Int64) -> Movie {
        Movie(movieId: movieId, status: .reserved, desc: "m", reviewCnt: 0, lastAction: .reserved)
    }

    @Test func aTraceGoesFromTheOutboxThroughTheBrokerIntoTheEventsAHandlerRecords() async throws {
        let origin = try #require(TraceParent(header: Self.origin))
        let (cluster, producer, consumer) = try mockBroker(
            partitions: 1, producerID: "trace-test", consumerGroup: "trace-check", logger: logger)
        let source = try await temporaryStore()
        let persistence = Persistence(store: source)
        // Recorded in a request's span, and one outside any trace (a background job): that one carries no header.
        try await TraceLogging.withTraceParent(origin) {
            try await persistence.transaction(metadata: EventMetadata(correlationId: "c-1")) { _, events in
                try await events.record(MovieReserved(Self.movie(1)))
            }
        }
        try await persistence.transaction(metadata: EventMetadata(correlationId: "c-2")) { _, events in
            try await events.record(MovieCancelled(Self.movie(1)))
        }
        let rows = try await source.read { try await OutboxRepository.pending(limit: 10, on: $0) }
        #expect(rows.map(\.traceParent) == [Self.origin, nil])

        let seen = Mutex<TraceParent?>(nil)
        let handlers = EventHandlers().on(MovieReserved.self) { event, context in
            seen.withLock { $0 = TraceParent.current }
            try await context.events.record(MovieCancelled(Self.movie(event.movieId)))
        }
        let target = try await temporaryStore()
        let processor = EventProcessor(persistence: Persistence(store: target), handlers: handlers, logger: logger, group: "t")
        let relay = OutboxRelay(store: source, publisher: producer, topic: "cinema", logger: logger)

        try await withThrowingTaskGroup(of: Void.self) { group async throws -> Void in
            group.addTask { try await producer.run() }
            group.addTask { try await consumer.run() }
            #expect(try await relay.publishNextBatch() == 2)
            var received: [KafkaConsumerMessage] = []
            for try await message in consumer.messages {
                received.append(message)
                if received.count == 2 { break }
            }
            #expect(received.first?.headers.value(forKey: MessageHeader.traceParent) == Self.origin)
            #expect(received.last?.headers.value(forKey: MessageHeader.traceParent) == nil)
            #expect(received.first.map { String(decoding: $0.value, as: UTF8.self) } == rows.first?.payload)

            let first = try #require(received.first)
            var headers: [String: String] = [:]
            for header in first.headers { headers[header.key] = header.value.map { String(decoding: $0, as: UTF8.self) } }
            let incoming = IncomingMessage(
                topic: first.topic, partition: first.partition, offset: first.offset, key: first.key, value: first.value,
                headers: headers)
            #expect(await processor.process(incoming) == .applied)
            group.cancelAll()
        }

        // The handler ran in a consumer span of the same trace, and its event remembers that span.
        let handlerSpan = try #require(seen.withLock { $0 })
        #expect(handlerSpan.traceID == origin.traceID)
        #expect(handlerSpan.spanID != origin.spanID)
        let caused = try await target.read { try await OutboxRepository.pending(limit: 10, on: $0) }
        #expect(caused.map(\.traceParent) == [handlerSpan.header])
        await source.close()
        await target.close()
        withExtendedLifetime(cluster) {}
    }

    @Test func anEventWithoutTraceparentStartsATrace() async throws {
        let store = try await temporaryStore()
        let seen = Mutex<TraceParent?>(nil)
        let handlers = EventHandlers().on(MovieReserved.self) { _, _ in seen.withLock { $0 = TraceParent.current } }
        let processor = EventProcessor(persistence: Persistence(store: store), handlers: handlers, logger: logger, group: "t")
        let value = try MovieReserved(Self.movie(1)).encodedJSON()
        for traceparent in [nil, "00-not-a-trace"] {
            var headers = [MessageHeader.messageId: UUID().uuidString]
            headers[MessageHeader.traceParent] = traceparent
            let message = IncomingMessage(topic: "cinema", partition: 0, offset: 0, key: nil, value: value, headers: headers)
            #expect(await processor.process(message) == .applied)
            #expect(seen.withLock { $0 } != nil)
        }
        await store.close()
    }
}
