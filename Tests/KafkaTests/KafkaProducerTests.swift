import CinemaPolling
import Kafka
import ServiceLifecycle
import Testing

@Suite struct KafkaProducerTests {
    @Test func libraryVersionIsReported() {
        #expect(KafkaLibrary.versionString.first?.isNumber == true)
    }

    @Test func headerLookupReturnsFirstMatchDecoded() {
        let headers = [
            KafkaHeader(key: "a", value: bytes("1")),
            KafkaHeader(key: "b", value: nil),
            KafkaHeader(key: "a", value: bytes("2")),
        ]
        #expect(headers.value(forKey: "a") == "1")
        #expect(headers.value(forKey: "b") == nil)
        #expect(headers.value(forKey: "c") == nil)
    }

    @Test func invalidPropertyIsRejected() {
        #expect(throws: KafkaError.self) {
            try KafkaProducer(
                configuration: .init(
                    bootstrapServers: "127.0.0.1:9092", clientID: "bad", properties: ["no.such.property": "1"]),
                logger: testLogger
            )
        }
    }

    @Test func concurrentSendsEachResolveExactlyOnce() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("concurrent", partitions: 3)
        let producer = try makeProducer(cluster.bootstrapServers, clientID: "concurrent-producer")
        let count = 1000
        let reports = try await withRunningServices([producer]) {
            try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await producer.send(
                            KafkaOutgoingMessage(topic: "concurrent", key: bytes("key-\(index)"), value: bytes("\(index)")))
                    }
                }
                var reports: [KafkaDeliveryReport] = []
                for try await report in group { reports.append(report) }
                return reports
            }
        }
        #expect(reports.count == count)
        #expect(reports.allSatisfy { $0.topic == "concurrent" && (0..<3).contains($0.partition) })
        // Each partition's offsets are exactly 0..<n: no report was lost, duplicated or mixed up.
        for partition in Int32(0)..<3 {
            let offsets = reports.filter { $0.partition == partition }.map(\.offset).sorted()
            #expect(offsets == Array(0..<Int64(offsets.count)))
        }
        #expect(producer.pendingDeliveryCount == 0)
        // The mock brokers must outlive the clients using them, not just the last mention.
        withExtendedLifetime(cluster) {}
    }

    @Test func sendInOrderKeepsTheArrayOrderOnEachPartition() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("ordered", partitions: 3)
        let producer = try makeProducer(cluster.bootstrapServers, clientID: "ordered-producer")
        let keys = (0..<600).map { "movie-\($0 % 4)" }
        let results = try await withRunningServices([producer]) {
            await producer.send(inOrder: keys.map { KafkaOutgoingMessage(topic: "ordered", key: bytes($0), value: bytes($0)) })
        }
        let reports = try results.map { try $0.get() }
        #expect(reports.count == keys.count)
        // Per key, the offsets grow in array order: the topic holds them as they were handed over.
        for key in Set(keys) {
            let offsets = zip(keys, reports).filter { $0.0 == key }.map(\.1.offset)
            #expect(offsets == offsets.sorted() && Set(offsets).count == offsets.count)
        }
        withExtendedLifetime(cluster) {}
    }

    @Test func fullLocalQueueIsRetriedNotFailed() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("tiny-queue", partitions: 1)
        // Far fewer slots than concurrent sends: most first attempts hit QUEUE_FULL.
        let producer = try makeProducer(cluster.bootstrapServers, clientID: "tiny-queue-producer", ["queue.buffering.max.messages": "5"])
        let count = 100
        let reports = try await withRunningServices([producer]) {
            try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await producer.send(KafkaOutgoingMessage(topic: "tiny-queue", key: nil, value: bytes("\(index)")))
                    }
                }
                var reports: [KafkaDeliveryReport] = []
                for try await report in group { reports.append(report) }
                return reports
            }
        }
        #expect(Set(reports.map(\.offset)) == Set(0..<Int64(count)))
        // The mock brokers must outlive the clients using them, not just the last mention.
        withExtendedLifetime(cluster) {}
    }

    @Test func sendToUnreachableBrokerFailsWithinMessageTimeout() async throws {
        // Port 1 on loopback: connections are refused at once, so nothing is ever delivered.
        let producer = try makeProducer("127.0.0.1:1", clientID: "unreachable-producer", ["message.timeout.ms": "1500"])
        try await withRunningServices([producer]) {
            let started = ContinuousClock.now
            let error = await #expect(throws: KafkaError.self) {
                try await withDeadline(10, "failed delivery report") {
                    try await producer.send(KafkaOutgoingMessage(topic: "nowhere", key: nil, value: bytes("lost")))
                }
            }
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(error?.code == .messageTimedOut)
            #expect(error?.code.rawValue == -192)  // RD_KAFKA_RESP_ERR__MSG_TIMED_OUT
            #expect(error?.isRetriable == true)
            #expect(await producer.isConnected() == false)
        }
    }

    @Test func typedDeliveryTimeoutBoundsAFailedDelivery() async throws {
        // Same as above, through the typed field instead of the raw property.
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1", clientID: "typed-timeout-producer")
        configuration.deliveryTimeout = .milliseconds(1500)
        let producer = try KafkaProducer(configuration: configuration, logger: testLogger)
        try await withRunningServices([producer]) {
            let started = ContinuousClock.now
            let error = await #expect(throws: KafkaError.self) {
                try await withDeadline(10, "failed delivery report") {
                    try await producer.send(KafkaOutgoingMessage(topic: "nowhere", key: nil, value: bytes("lost")))
                }
            }
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(error?.code == .messageTimedOut)
            #expect(error?.isFatal == false)
        }
    }

    @Test func shutdownFlushWithoutABrokerWaitsTheConfiguredTimeThenFailsWhatIsLeft() async throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1", clientID: "flush-timeout-producer")
        configuration.deliveryTimeout = .seconds(60)
        configuration.flushTimeoutWhileDisconnected = .seconds(2)
        let producer = try KafkaProducer(configuration: configuration, logger: testLogger)
        let group = ServiceGroup(services: [producer], logger: testLogger)
        let running = Task { try await group.run() }
        let sending = Task { try await producer.send(KafkaOutgoingMessage(topic: "t", key: nil, value: bytes("x"))) }
        try await waitUntil("message enqueued") { producer.pendingDeliveryCount == 1 }

        let started = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await withDeadline(15, "producer run() returning") { try await running.value }
        let elapsed = ContinuousClock.now - started

        #expect(elapsed >= .seconds(2), "the flush gave up before its configured time (took \(elapsed))")
        #expect(elapsed < .seconds(8), "the flush waited as if a broker were there (took \(elapsed))")
        let error = await #expect(throws: KafkaError.self) { try await sending.value }
        #expect(error?.code == .destroyed)
    }

    @Test func aCancelledWaitEndsPromptlyAndShutdownDoesNotWaitForAnAbsentBroker() async throws {
        // Deliveries would only time out after 60 s: neither the cancelled wait nor the shutdown may take that long.
        let producer = try makeProducer("127.0.0.1:1", clientID: "absent-broker-producer", ["message.timeout.ms": "60000"])
        let started = ContinuousClock.now
        try await withRunningServices([producer]) {
            let waiting = Task { try await producer.send(KafkaOutgoingMessage(topic: "t", key: nil, value: bytes("x"))) }
            try await waitUntil("message enqueued") { producer.pendingDeliveryCount == 1 }
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    /// A batch is awaited as a whole: cancelling the wait fails every message still unacknowledged, each once.
    @Test func aCancelledBatchWaitFailsEveryOpenMessagePromptly() async throws {
        let producer = try makeProducer("127.0.0.1:1", clientID: "absent-broker-batch", ["message.timeout.ms": "60000"])
        let started = ContinuousClock.now
        try await withRunningServices([producer]) {
            let messages = (0..<3).map { KafkaOutgoingMessage(topic: "t", key: nil, value: bytes("m\($0)")) }
            let waiting = Task { await producer.send(inOrder: messages) }
            try await waitUntil("batch enqueued") { producer.pendingDeliveryCount == 3 }
            waiting.cancel()
            let results = await waiting.value
            #expect(results.count == 3)
            for result in results {
                #expect(throws: CancellationError.self) { try result.get() }
            }
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func isConnectedWithPrivateMockBroker() async throws {
        // The address is ignored: the private mock cluster takes over. It has no API to create
        // topics, so this one is created on use.
        let producer = try makeProducer(
            "127.0.0.1:1", clientID: "mock-producer", ["test.mock.num.brokers": "1", "allow.auto.create.topics": "true"])
        try await withRunningServices([producer]) {
            try await waitUntil("producer connected") { await producer.isConnected() }
            let report = try await producer.send(KafkaOutgoingMessage(topic: "auto", key: nil, value: bytes("x")))
            #expect(report.offset == 0)
        }
        #expect(await producer.isConnected() == false)
    }

    @Test func gracefulShutdownFlushesPendingSendsAndRefusesNewOnes() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("flush", partitions: 1)
        // Long enough that only the shutdown flush can explain a prompt delivery.
        let producer = try makeProducer(cluster.bootstrapServers, clientID: "flush-producer", ["linger.ms": "8000"])
        let count = 200
        // Enqueue while run() is not even started, so every message is still pending at shutdown.
        let sends = Task {
            try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await producer.send(KafkaOutgoingMessage(topic: "flush", key: nil, value: bytes("\(index)")))
                    }
                }
                var reports: [KafkaDeliveryReport] = []
                for try await report in group { reports.append(report) }
                return reports
            }
        }
        try await waitUntil("all sends enqueued") { producer.pendingDeliveryCount == count }

        let started = ContinuousClock.now
        let group = ServiceGroup(services: [producer], logger: testLogger)
        await group.triggerGracefulShutdown()  // shutdown is requested before run() even starts
        try await withDeadline(15, "producer run() returning") { try await group.run() }
        let elapsed = ContinuousClock.now - started

        let reports = try await sends.value
        #expect(reports.count == count)
        #expect(Set(reports.map(\.offset)) == Set(0..<Int64(count)))
        #expect(elapsed < .seconds(6), "flush should send at once instead of waiting for linger.ms (took \(elapsed))")

        let error = await #expect(throws: KafkaError.self) {
            try await producer.send(KafkaOutgoingMessage(topic: "flush", key: nil, value: bytes("late")))
        }
        #expect(error?.code == .destroyed)
        #expect(error?.code.rawValue == -197)  // RD_KAFKA_RESP_ERR__DESTROY
        // The mock brokers must outlive the clients using them, not just the last mention.
        withExtendedLifetime(cluster) {}
    }

    @Test func runReturnsWhenCancelled() async throws {
        let producer = try makeProducer("127.0.0.1:1", clientID: "cancel-producer", ["test.mock.num.brokers": "1"])
        let running = Task { try await producer.run() }
        running.cancel()
        try await withDeadline(15, "run() returning after cancellation") { try await running.value }
    }
}
