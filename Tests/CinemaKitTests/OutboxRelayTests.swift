import CinemaEvents
import CinemaJSON
import CinemaKit
import Foundation
import Kafka
import Logging
import Testing

/// librdkafka's in-process mock cluster with topic `cinema`, a producer, and a consumer of the topic in its own group.
func mockBroker(
    partitions: Int32, producerID: String, consumerGroup: String, logger: Logger
) throws -> (KafkaMockCluster, KafkaProducer, KafkaConsumer) {
    let cluster = try KafkaMockCluster(logger: logger)
    try cluster.createTopic("cinema", partitions: partitions)
    let producer = try KafkaProducer(
        configuration: .init(bootstrapServers: cluster.bootstrapServers, clientID: producerID), logger: logger)
    let consumer = try KafkaConsumer(
        configuration: .init(
            bootstrapServers: cluster.bootstrapServers, groupID: consumerGroup, topics: ["cinema"], clientID: consumerGroup),
        logger: logger
    )
    return (cluster, producer, consumer)
}

/// The relay against librdkafka's in-process mock cluster: real producer, real delivery reports.
@Suite struct OutboxRelayTests {
    let logger = Logger(label: "test")

    func enqueue(_ count: Int, in store: SQLiteStore) async throws {
        try await store.transaction { database in
            for index in 0..<count {
                let movieId = Int64(index % 3 + 1)
                try await OutboxRepository.enqueue(
                    MovieModified(
                        Movie(movieId: movieId, status: .available, desc: "v\(index)", reviewCnt: Int64(index), lastAction: .modify)),
                    metadata: EventMetadata(correlationId: "c-\(index)"), on: database
                )
            }
        }
    }

    @Test func publishesEveryRowKeyedByMovieWithHeadersThenDeletesIt() async throws {
        let (cluster, producer, consumer) = try mockBroker(
            partitions: 3, producerID: "relay-test", consumerGroup: "relay-check", logger: logger)
        let store = try await temporaryStore()
        try await enqueue(30, in: store)
        let relay = OutboxRelay(store: store, publisher: producer, topic: "cinema", logger: logger)

        try await withThrowingTaskGroup(of: Void.self) { group async throws -> Void in
            group.addTask { try await producer.run() }
            group.addTask { try await consumer.run() }
            #expect(try await relay.publishNextBatch() == 30)
            #expect(relay.isFlowing(stallLimit: .seconds(1)))
            #expect(try await store.read { try await OutboxRepository.count(on: $0) } == 0)
            #expect(await relay.waitUntilPublished(through: 30, timeout: .milliseconds(10)))

            var received: [KafkaConsumerMessage] = []
            for try await message in consumer.messages {
                received.append(message)
                if received.count == 30 { break }
            }
            for movieId in 1...3 {
                let ofMovie = received.filter { $0.key == Array(String(movieId).utf8) }
                #expect(ofMovie.count == 10)
                #expect(Set(ofMovie.map(\.partition)).count == 1, "one movie, one partition")
                // Within a movie, the topic order is the commit order.
                let descs = ofMovie.map { try? JSONValue.parse($0.value)["desc"] }
                let expected = stride(from: movieId - 1, to: 30, by: 3).map { JSONValue?.some(.string("v\($0)")) }
                #expect(descs == expected)
            }
            let first = try #require(received.first)
            #expect(first.headers.value(forKey: MessageHeader.eventType) == "MovieModified")
            #expect(first.headers.value(forKey: MessageHeader.messageId)?.isEmpty == false)
            #expect(first.headers.value(forKey: MessageHeader.correlationId)?.hasPrefix("c-") == true)
            group.cancelAll()
        }
        await store.close()
        // The mock brokers must outlive the clients using them, not just the last mention.
        withExtendedLifetime(cluster) {}
    }

    @Test func rowsStayInTheOutboxWhileTheBrokerIsUnreachable() async throws {
        let producer = try KafkaProducer(
            configuration: .init(bootstrapServers: "127.0.0.1:1", clientID: "relay-down", properties: ["message.timeout.ms": "300"]),
            logger: logger
        )
        let store = try await temporaryStore()
        try await enqueue(3, in: store)
        let relay = OutboxRelay(store: store, publisher: producer, topic: "cinema", logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group async throws -> Void in
            group.addTask { try await producer.run() }
            await #expect(throws: (any Error).self) { try await relay.publishNextBatch() }
            #expect(try await store.read { try await OutboxRepository.count(on: $0) } == 3)
            #expect(await relay.waitUntilPublished(through: 1, timeout: .milliseconds(50)) == false)
            // Nothing went out since the relay was made, a failed attempt ago.
            #expect(relay.isFlowing(stallLimit: .milliseconds(200)) == false)
            #expect(relay.isFlowing(stallLimit: .seconds(60)))
            group.cancelAll()
        }
        await store.close()
    }

    /// A row the broker can never take (here: larger than the producer accepts) is parked with the
    /// reason, the rows around it go out in order, and nothing is retried for ever.
    @Test func aRowRefusedForGoodIsParkedAndTheOthersGoOut() async throws {
        let cluster = try KafkaMockCluster(logger: logger)
        try cluster.createTopic("cinema", partitions: 1)
        let producer = try KafkaProducer(
            configuration: .init(
                bootstrapServers: cluster.bootstrapServers, clientID: "relay-park", properties: ["message.max.bytes": "4000"]),
            logger: logger)
        let store = try await temporaryStore()
        try await store.transaction { database in
            for desc in ["before", String(repeating: "x", count: 10_000), "after"] {
                try await OutboxRepository.enqueue(
                    MovieModified(Movie(movieId: 1, status: .available, desc: desc, reviewCnt: 0, lastAction: .modify)),
                    metadata: EventMetadata(correlationId: "c"), on: database)
            }
        }
        let relay = OutboxRelay(store: store, publisher: producer, topic: "cinema", logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group async throws -> Void in
            group.addTask { try await producer.run() }
            #expect(try await relay.publishNextBatch() == 2)
            #expect(try await store.read { try await OutboxRepository.count(on: $0) } == 0)
            #expect(try await store.read { try await OutboxRepository.parkedCount(on: $0) } == 1)
            // Waiters for the parked row are released too: it will never be published.
            #expect(await relay.waitUntilPublished(through: 3, timeout: .milliseconds(10)))
            #expect(try await relay.publishNextBatch() == 0)
            group.cancelAll()
        }
        await store.close()
    }
}
