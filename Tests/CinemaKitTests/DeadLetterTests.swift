import CinemaEvents
import CinemaJSON
import CinemaKit
import CinemaPolling
import Foundation
import Kafka
import Logging
import SQLKit
import Synchronization
import Testing

/// The consumer loop with dead letters, against librdkafka's in-process mock cluster.
@Suite struct DeadLetterTests {
    let logger = Logger(label: "test")

    static let confirmed =
        #"{"eventType":"ReservationConfirmed","timestamp":"20261126060250","rsvId":1,"movieId":1,"status":"reserved","payId":1,"me":true}"#

    /// A processor whose one handler counts confirmations in the database.
    func counting(_ store: SQLiteStore) -> EventProcessor {
        let handlers = EventHandlers().on(ReservationConfirmed.self) { _, context in
            try await context.database.update("counter").set(SQLIdentifier("value"), to: SQLRaw("value + 1")).run()
        }
        return EventProcessor(
            persistence: Persistence(store: store), handlers: handlers, logger: logger, group: "counting", maxAttempts: 2,
            initialBackoff: .milliseconds(1))
    }

    func consumer(_ cluster: KafkaMockCluster, topic: String, group: String) throws -> KafkaConsumer {
        try KafkaConsumer(
            configuration: .init(bootstrapServers: cluster.bootstrapServers, groupID: group, topics: [topic], clientID: group),
            logger: logger)
    }

    func produce(_ producer: KafkaProducer, _ values: [String]) async throws {
        for (index, value) in values.enumerated() {
            // The first has no message id, as a foreign producer's junk would not.
            let headers = index == 0 ? [] : [KafkaHeader(key: MessageHeader.messageId, value: Array("m-\(index)".utf8))]
            _ = try await producer.send(
                KafkaOutgoingMessage(topic: "cinema", key: Array("1".utf8), value: Array(value.utf8), headers: headers))
        }
    }

    @Test func anUnreadableEventGoesToTheDeadLetterTopicWithItsOriginAndTheLoopGoesOn() async throws {
        let cluster = try KafkaMockCluster(logger: logger)
        try cluster.createTopic("cinema", partitions: 1)
        try cluster.createTopic("cinema.DLT", partitions: 1)
        let producer = try KafkaProducer(
            configuration: .init(bootstrapServers: cluster.bootstrapServers, clientID: "dlt-test"), logger: logger)
        let source = try consumer(cluster, topic: "cinema", group: "counting")
        let letters = try consumer(cluster, topic: "cinema.DLT", group: "dlt-reader")
        let store = try await temporaryStore(schema: counterSchema)
        let service = EventConsumerService(
            consumer: source, processor: counting(store),
            deadLetters: KafkaDeadLetterPublisher(producer: producer, topic: "cinema.DLT"), logger: logger)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.run() }
            group.addTask { try await source.run() }
            group.addTask { try await letters.run() }
            group.addTask { try await service.run() }
            try await produce(producer, ["this is not json", Self.confirmed])

            var received: [KafkaConsumerMessage] = []
            for try await letter in letters.messages {
                received.append(letter)
                break
            }
            let letter = try #require(received.first)
            #expect(letter.value == Array("this is not json".utf8))
            #expect(letter.key == Array("1".utf8))
            #expect(letter.headers.value(forKey: DeadLetterHeader.originalTopic) == "cinema")
            #expect(letter.headers.value(forKey: DeadLetterHeader.originalPartition) == "0")
            #expect(letter.headers.value(forKey: DeadLetterHeader.originalOffset) == "0")
            #expect(letter.headers.value(forKey: DeadLetterHeader.consumerGroup) == "counting")
            #expect(letter.headers.value(forKey: DeadLetterHeader.error)?.hasPrefix("not an event") == true)
            #expect(letter.headers.value(forKey: DeadLetterHeader.attempts) == "0")
            // Known to the inboxes by its position, which a replay keeps.
            #expect(letter.headers.value(forKey: MessageHeader.messageId) == "cinema-0-0")
            // The event after it was applied.
            try await waitUntil("the event applied", timeout: .seconds(20)) { try await counterValue(store) == 1 }
            group.cancelAll()
        }
        await store.close()
    }

    /// While the dead-letter topic cannot be written, the loop holds at the failed event: nothing
    /// after it is applied and its offset is not stored. It goes on once the letter is published.
    @Test func theLoopHoldsUntilTheDeadLetterIsAcknowledged() async throws {
        let cluster = try KafkaMockCluster(logger: logger)
        try cluster.createTopic("cinema", partitions: 1)
        let producer = try KafkaProducer(
            configuration: .init(bootstrapServers: cluster.bootstrapServers, clientID: "dlt-hold"), logger: logger)
        let source = try consumer(cluster, topic: "cinema", group: "counting")
        let store = try await temporaryStore(schema: counterSchema)
        let publisher = FlakyPublisher()
        let service = EventConsumerService(consumer: source, processor: counting(store), deadLetters: publisher, logger: logger)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.run() }
            group.addTask { try await source.run() }
            group.addTask { try await service.run() }
            try await produce(producer, ["this is not json", Self.confirmed])
            try await waitUntil("three publish attempts", timeout: .seconds(20)) { publisher.attempts.withLock { $0 } >= 3 }
            #expect(try await counterValue(store) == 0)
            publisher.isAvailable.withLock { $0 = true }
            try await waitUntil("the event applied", timeout: .seconds(20)) { try await counterValue(store) == 1 }
            #expect(publisher.published.withLock { $0 } == 1)
            group.cancelAll()
        }
        await store.close()
    }

    final class FlakyPublisher: DeadLetterPublisher {
        let isAvailable = Mutex(false)
        let attempts = Mutex(0)
        let published = Mutex(0)

        struct Unavailable: Error {}

        func publish(_ message: IncomingMessage, reason: String, attempts: Int, group: String) async throws {
            self.attempts.withLock { $0 += 1 }
            guard isAvailable.withLock({ $0 }) else { throw Unavailable() }
            published.withLock { $0 += 1 }
        }
    }
}
