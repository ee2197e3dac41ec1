import CinemaPolling
import Kafka
import ServiceLifecycle
import Synchronization
import Testing

@Suite struct KafkaConsumerTests {
    private func produce(_ messages: [KafkaOutgoingMessage], to cluster: KafkaMockCluster) async throws {
        let producer = try makeProducer(cluster.bootstrapServers, clientID: "test-producer")
        try await withRunningServices([producer]) {
            // One at a time so that offsets follow the array order.
            for message in messages { _ = try await producer.send(message) }
        }
    }

    private func consumer(_ cluster: KafkaMockCluster, group: String, topic: String, clientID: String) throws -> KafkaConsumer {
        try KafkaConsumer(
            configuration: .init(
                bootstrapServers: cluster.bootstrapServers, groupID: group, topics: [topic], clientID: clientID),
            logger: testLogger
        )
    }

    @Test func keyValueAndHeadersRoundTrip() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("roundtrip", partitions: 3)
        let sent = [
            KafkaOutgoingMessage(
                topic: "roundtrip", key: bytes("seat-1"), value: bytes("{\"reserved\":true}"),
                headers: [
                    KafkaHeader(key: "event-type", value: bytes("SeatReserved")),
                    KafkaHeader(key: "trace", value: nil),
                    KafkaHeader(key: "binary", value: [0, 255, 1]),
                ]),
            KafkaOutgoingMessage(topic: "roundtrip", key: nil, value: bytes("no key")),
            KafkaOutgoingMessage(topic: "roundtrip", key: bytes("empty-value"), value: []),
        ]
        try await produce(sent, to: cluster)

        let consumer = try consumer(cluster, group: "roundtrip-group", topic: "roundtrip", clientID: "roundtrip-consumer")
        let received = try await withRunningServices([consumer]) {
            let received = try await collect(sent.count, from: consumer)
            #expect(await consumer.isConnected())
            return received
        }

        #expect(received.count == sent.count)
        let first = try #require(received.first { $0.key == bytes("seat-1") })
        #expect(text(first.value) == "{\"reserved\":true}")
        #expect(first.headers == sent[0].headers)
        #expect(first.headers.value(forKey: "event-type") == "SeatReserved")
        #expect(first.topic == "roundtrip")

        let keyless = try #require(received.first { $0.key == nil })
        #expect(text(keyless.value) == "no key")
        #expect(keyless.headers.isEmpty)

        let empty = try #require(received.first { $0.key == bytes("empty-value") })
        #expect(empty.value.isEmpty)

        #expect(await consumer.isConnected() == false)
        // The mock brokers must outlive the clients using them, not just the last mention.
        withExtendedLifetime(cluster) {}
    }

    @Test func restartedConsumerResumesAfterLastStoredOffset() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("offsets", partitions: 1)
        let total = 10
        let processed = 4
        try await produce(
            (0..<total).map { KafkaOutgoingMessage(topic: "offsets", key: nil, value: bytes("m\($0)")) },
            to: cluster
        )

        // First member: sees everything, but only the first `processed` were handled.
        let first = try consumer(cluster, group: "offsets-group", topic: "offsets", clientID: "offsets-consumer-1")
        let firstRun = try await withRunningServices([first]) {
            try await collect(total, from: first) { message in
                if message.offset < Int64(processed) { try first.storeOffset(of: message) }
            }
        }
        #expect(firstRun.map(\.offset) == Array(0..<Int64(total)))

        // After the graceful shutdown the iteration has ended and offsets can no longer be stored.
        var iterator = first.messages.makeAsyncIterator()
        #expect(try await iterator.next() == nil)
        #expect(throws: KafkaError.self) { try first.storeOffset(of: firstRun[processed]) }

        // Second member of the same group: re-delivers exactly the ones not stored.
        let second = try consumer(cluster, group: "offsets-group", topic: "offsets", clientID: "offsets-consumer-2")
        let secondRun = try await withRunningServices([second]) {
            try await collect(total - processed, from: second)
        }
        #expect(secondRun.map(\.offset) == Array(Int64(processed)..<Int64(total)))
        #expect(secondRun.map { text($0.value) } == (processed..<total).map { "m\($0)" })
        // The mock brokers must outlive the clients using them, not just the last mention.
        withExtendedLifetime(cluster) {}
    }

    /// One trip to the poll queue brings back several messages; the ones not handed out yet wait in the consumer, not
    /// in the iterator, so an iteration ended early loses none of them.
    @Test func messagesPolledTogetherAreHandedOutOnceInOrderAcrossIterators() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("batches", partitions: 1)
        let total = 50
        try await produce((0..<total).map { KafkaOutgoingMessage(topic: "batches", key: nil, value: bytes("m\($0)")) }, to: cluster)
        let consumer = try consumer(cluster, group: "batches-group", topic: "batches", clientID: "batches-consumer")
        let offsets = try await withRunningServices([consumer]) {
            var offsets: [Int64] = []
            // Iterations of 1, 2, 3, ... messages, each one dropped as soon as it has them.
            var size = 1
            while offsets.count < total {
                offsets += try await collect(min(size, total - offsets.count), from: consumer).map(\.offset)
                size += 1
            }
            return offsets
        }
        #expect(offsets == Array(0..<Int64(total)))
        withExtendedLifetime(cluster) {}
    }

    /// The lag librdkafka knows without asking a broker: the partition's end minus what was handed to the application.
    @Test func partitionLagFollowsWhatTheApplicationWasHanded() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("lag", partitions: 1)
        try await produce((0..<10).map { KafkaOutgoingMessage(topic: "lag", key: nil, value: bytes("m\($0)")) }, to: cluster)
        let consumer = try consumer(cluster, group: "lag-group", topic: "lag", clientID: "lag-consumer")
        #expect(await consumer.partitionLags().isEmpty, "nothing assigned yet")
        try await withRunningServices([consumer]) {
            _ = try await collect(4, from: consumer)
            try await waitUntil("lag 6 after 4 of 10") {
                await consumer.partitionLags().map { "\($0.topic)[\($0.partition)]: \($0.lag)" } == ["lag[0]: 6"]
            }
            _ = try await collect(6, from: consumer)
            try await waitUntil("lag 0 after all 10") {
                await consumer.partitionLags().map { "\($0.topic)[\($0.partition)]: \($0.lag)" } == ["lag[0]: 0"]
            }
        }
        #expect(await consumer.partitionLags().isEmpty, "closed")
        withExtendedLifetime(cluster) {}
    }

    @Test func shutdownRequestedBeforeRunStartsStillEndsRunAndIteration() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("early", partitions: 1)
        let consumer = try consumer(cluster, group: "early-group", topic: "early", clientID: "early-consumer")
        let group = ServiceGroup(services: [consumer], logger: testLogger)
        await group.triggerGracefulShutdown()
        try await withDeadline(15, "run() returning after an earlier shutdown request") { try await group.run() }
        var iterator = consumer.messages.makeAsyncIterator()
        #expect(try await iterator.next() == nil)
        #expect(await consumer.isConnected() == false)
        withExtendedLifetime(cluster) {}
    }

    @Test func runReturnsOnCancellationAndEndsIteration() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("cancel", partitions: 1)
        let consumer = try consumer(cluster, group: "cancel-group", topic: "cancel", clientID: "cancel-consumer")
        let iteration = Task {
            var count = 0
            for try await _ in consumer.messages { count += 1 }
            return count
        }
        let running = Task { try await consumer.run() }
        try await waitUntil("consumer connected") { await consumer.isConnected() }
        running.cancel()
        try await withDeadline(15, "run() returning after cancellation") { try await running.value }
        #expect(try await withDeadline(5, "iteration ending") { try await iteration.value } == 0)
        // The mock brokers must outlive the clients using them, not just the last mention.
        withExtendedLifetime(cluster) {}
    }
}
