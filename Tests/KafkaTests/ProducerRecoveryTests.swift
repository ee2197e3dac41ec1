import CinemaPolling
import Kafka
import Logging
import Testing

/// How the code under test hands messages to the producer when the fault hits.
enum SendStyle: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case single
    case inOrderBatch

    var testDescription: String { rawValue }

    /// Sends `count` messages; one result per message.
    func send(_ count: Int, to topic: String, tag: String, via producer: KafkaProducer) async -> [Result<KafkaDeliveryReport, any Error>] {
        let messages = (0..<count).map { KafkaOutgoingMessage(topic: topic, key: bytes("movie-1"), value: bytes("\(tag)-\($0)")) }
        switch self {
        case .single:
            var results: [Result<KafkaDeliveryReport, any Error>] = []
            for message in messages {
                do { results.append(.success(try await producer.send(message))) } catch { results.append(.failure(error)) }
            }
            return results
        case .inOrderBatch:
            return await producer.send(inOrder: messages)
        }
    }
}

/// Every failure must be a retriable `KafkaError`: the outbox relay sends those again.
private func expectOnlyRetriableFailures(
    _ results: [Result<KafkaDeliveryReport, any Error>], sourceLocation: SourceLocation = #_sourceLocation
) {
    for case .failure(let error) in results {
        let kafkaError = error as? KafkaError
        #expect(kafkaError?.isRetriable == true, "not a retriable KafkaError: \(error)", sourceLocation: sourceLocation)
    }
}

private func replacementWarnings(in capture: LogCapture) -> [LogCapture.Record] {
    capture.records.filter { $0.level == .warning && $0.message.contains("replaced its unusable librdkafka handle") }
}

@Suite struct ProducerRecoveryTests {
    @Test(arguments: SendStyle.allCases)
    func aFatalErrorReplacesTheHandleAndSendsSucceedAgain(_ style: SendStyle) async throws {
        let cluster = try KafkaMockCluster()
        let topic = "fatal-\(style.rawValue)"
        try cluster.createTopic(topic, partitions: 1)
        let capture = LogCapture()
        let producer = try KafkaProducer(
            configuration: .init(bootstrapServers: cluster.bootstrapServers, clientID: "fatal-\(style.rawValue)"),
            logger: capture.logger(label: "fatal-producer", level: .info)
        )
        try await withRunningServices([producer]) {
            // Warm-up: the producer has its id and the partition its first sequence number.
            _ = try await producer.send(KafkaOutgoingMessage(topic: topic, key: nil, value: bytes("warm-up")))
            #expect(producer.recoveries == 0)

            // The broker claims a sequence gap on the next ProduceRequest: librdkafka's idempotent
            // producer can only give up (a fatal error), and refuses every later message.
            cluster.failNextRequests(.produce, with: [.outOfOrderSequenceNumber])
            let duringFault = try await withDeadline(20, "the sends during the fault") {
                await style.send(3, to: topic, tag: "during", via: producer)
            }
            #expect(duringFault.contains { (try? $0.get()) == nil }, "the injected error failed nothing")
            expectOnlyRetriableFailures(duringFault)

            try await waitUntil("the producer replaced its handle") { producer.recoveries == 1 }
            let afterFault = try await withDeadline(20, "the sends after the fault") {
                await style.send(3, to: topic, tag: "after", via: producer)
            }
            let reports = try afterFault.map { try $0.get() }
            #expect(reports.count == 3)
            // Still in order on the partition after the recovery.
            #expect(reports.map(\.offset) == reports.map(\.offset).sorted())
            #expect(producer.recoveries == 1)
            #expect(producer.pendingDeliveryCount == 0)
        }
        let warnings = replacementWarnings(in: capture)
        #expect(warnings.count == 1)
        #expect(warnings.first?.message.contains("fatal") == true, "the reason is missing: \(warnings.first?.message ?? "")")
        withExtendedLifetime(cluster) {}
    }

    @Test func aForgottenProducerIdIsDetectedFromEpochChurnAndTheHandleReplaced() async throws {
        // What a restarted in-memory broker does: every ProduceRequest gets UNKNOWN_PRODUCER_ID.
        // librdkafka bumps its epoch and retries endlessly; no fatal error, no failed delivery
        // until message.timeout.ms (here far longer than the test may take).
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("churn", partitions: 3)
        let capture = LogCapture()
        var configuration = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers, clientID: "churn-producer")
        configuration.deliveryTimeout = .seconds(120)
        let producer = try KafkaProducer(configuration: configuration, logger: capture.logger(label: "churn-producer", level: .info))
        try await withRunningServices([producer]) {
            _ = try await producer.send(KafkaOutgoingMessage(topic: "churn", key: nil, value: bytes("warm-up")))
            cluster.failNextRequests(.produce, with: Array(repeating: .unknownProducerId, count: 5000))

            let stuck = await #expect(throws: KafkaError.self) {
                try await withDeadline(20, "the stuck delivery failing") {
                    try await producer.send(KafkaOutgoingMessage(topic: "churn", key: bytes("k"), value: bytes("stuck")))
                }
            }
            #expect(stuck?.isRetriable == true)
            #expect(producer.recoveries == 1)

            // The new handle has sent nothing yet; stop the fault before it does, as a restarted
            // broker stops refusing once a new producer id is asked for.
            cluster.clearRequestErrors(.produce)
            let report = try await withDeadline(10, "a send on the new handle") {
                try await producer.send(KafkaOutgoingMessage(topic: "churn", key: bytes("k"), value: bytes("after")))
            }
            #expect(report.topic == "churn")
            #expect(producer.recoveries == 1)
        }
        let warnings = replacementWarnings(in: capture)
        #expect(warnings.count == 1)
        #expect(warnings.first?.message.contains("epoch") == true, "the reason is missing: \(warnings.first?.message ?? "")")
        withExtendedLifetime(cluster) {}
    }

    @Test func aHealthyProducerKeepsItsHandle() async throws {
        let cluster = try KafkaMockCluster()
        try cluster.createTopic("healthy", partitions: 3)
        let producer = try makeProducer(cluster.bootstrapServers, clientID: "healthy-producer")
        try await withRunningServices([producer]) {
            let results = await SendStyle.inOrderBatch.send(200, to: "healthy", tag: "m", via: producer)
            #expect(results.allSatisfy { (try? $0.get()) != nil })
        }
        #expect(producer.recoveries == 0)
        withExtendedLifetime(cluster) {}
    }
}
