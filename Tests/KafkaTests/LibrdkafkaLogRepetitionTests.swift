import CinemaPolling
import Kafka
import Logging
import Testing

private func refusedLines(in capture: LogCapture) -> [LogCapture.Record] {
    capture.records.filter { $0.message.contains("Connection refused") }
}

private func isSummary(_ record: LogCapture.Record) -> Bool {
    record.metadata["kafka.repeated"] != nil
}

@Suite struct LibrdkafkaLogRepetitionTests {
    @Test func aBrokerThatIsAwayCostsAFewLinesAndACountNotALinePerRetry() async throws {
        let capture = LogCapture()
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1", clientID: "refused-producer")
        // librdkafka reconnects every 10-100 ms instead of backing off to seconds: many retries fast.
        configuration.properties = ["reconnect.backoff.ms": "10", "reconnect.backoff.max.ms": "100"]
        configuration.repeatedLogWindow = .seconds(2)
        // Info and up: what an operator's log shows.
        let producer = try KafkaProducer(configuration: configuration, logger: capture.logger(label: "refused", level: .info))
        try await withRunningServices([producer]) {
            // A message waiting to go out makes librdkafka try to connect at every opportunity.
            let waiting = Task { try? await producer.send(KafkaOutgoingMessage(topic: "t", key: nil, value: bytes("x"))) }
            defer { waiting.cancel() }
            // The first window closes after 2 s with a summary, even though the lines keep coming.
            // (Without suppression, plenty of lines come instead: enough to judge, too.)
            try await waitUntil("a summary of the held-back lines, or many lines", timeout: .seconds(15)) {
                let lines = refusedLines(in: capture)
                return lines.contains(where: isSummary) || lines.count > 10
            }
        }

        let lines = refusedLines(in: capture).filter { !isSummary($0) }
        let summaries = refusedLines(in: capture).filter(isSummary)
        let repeats = summaries.compactMap { $0.metadata["kafka.repeated"].flatMap { Int("\($0)") } }.reduce(0, +)
        #expect(lines.count >= 1 && lines.count <= 3, "logged in full: \(lines.map(\.message))")
        #expect(repeats >= 5, "librdkafka should have retried many times, the summaries counted \(repeats)")
        #expect(summaries.first?.message.contains("(repeated ") == true, "\(summaries.map(\.message))")
        #expect(summaries.first?.message.contains(" in the last 2 s)") == true, "\(summaries.map(\.message))")
    }
}
