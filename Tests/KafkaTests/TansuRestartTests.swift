import Kafka
import Logging
import Testing

/// Against a real broker: Tansu, started by the test (only where `TANSU_BIN` is set, as
/// `make test` does; LD_LIBRARY_PATH must then point at a librdkafka that can talk to Tansu).
@Suite(.enabled(if: TansuBroker.binaryFromEnvironment != nil, "TANSU_BIN is not set"))
struct TansuRestartTests {
    @Test(.timeLimit(.minutes(2)))
    func theProducerDeliversAgainAfterTheBrokerRestartedAndForgotItsProducerID() async throws {
        let binary = try #require(TansuBroker.binaryFromEnvironment)
        let broker = TansuBroker(binary: binary, port: try TansuBroker.freePort())
        // Killed here whatever happens below; a restart replaces the process, not this object.
        defer { broker.kill() }
        try broker.start()
        try await broker.createTopic("cinema", partitions: 3)

        let capture = LogCapture()
        let producer = try KafkaProducer(
            configuration: .init(bootstrapServers: broker.bootstrapServers, clientID: "tansu-restart-producer"),
            logger: capture.logger(label: "tansu-restart", level: .info)
        )
        try await withRunningServices([producer]) {
            let before = try await withDeadline(20, "the first delivery") {
                try await producer.send(KafkaOutgoingMessage(topic: "cinema", key: bytes("movie-1"), value: bytes("before")))
            }
            #expect(before.topic == "cinema")

            broker.kill()
            try broker.start()
            try await broker.createTopic("cinema", partitions: 3)
            let restarted = ContinuousClock.now

            // What the outbox relay does: send, and on a retriable failure send again, until acknowledged.
            let deadline: Duration = .seconds(30)
            var attempts = 0
            var acknowledged: KafkaDeliveryReport?
            while acknowledged == nil, ContinuousClock.now - restarted < deadline {
                attempts += 1
                do {
                    acknowledged = try await withDeadline(30, "one send after the restart") {
                        try await producer.send(KafkaOutgoingMessage(topic: "cinema", key: bytes("movie-1"), value: bytes("after")))
                    }
                } catch let error as KafkaError {
                    #expect(error.isRetriable, "a failure the relay would not retry: \(error)")
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            let elapsed = ContinuousClock.now - restarted
            #expect(acknowledged?.topic == "cinema", "nothing acknowledged \(elapsed) after the restart (\(attempts) attempts)")
            #expect(producer.recoveries >= 1)
            let recovery = capture.records.first { $0.message.contains("replaced its unusable librdkafka handle") }
            #expect(recovery != nil)
            print("tansu restart: acknowledged after \(elapsed), \(attempts) attempts; \(recovery?.message ?? "no recovery logged")")
        }
    }
}
