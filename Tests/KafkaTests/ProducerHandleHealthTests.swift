import Kafka
import Testing

/// What one handle reports, in order.
enum HealthStep: Sendable {
    case failed(KafkaError.Code, at: Double)
    case acknowledged
    case statistics(producerEpoch: Int)
    case allBrokersDown
}

struct HealthScenario: Sendable, CustomTestStringConvertible {
    let label: String
    let steps: [HealthStep]
    let unusable: Bool
    var testDescription: String { label }

    /// `count` failures with `code`, `spacing` seconds apart, from `start`.
    static func failures(_ count: Int, _ code: KafkaError.Code, every spacing: Double, from start: Double = 0) -> [HealthStep] {
        (0..<count).map { .failed(code, at: start + Double($0) * spacing) }
    }

    static let all: [HealthScenario] = [
        .init(
            label: "a run of unknown-producer-id failures over 1.8 s", steps: failures(10, .unknownProducerId, every: 0.2), unusable: true),
        .init(
            label: "the four producer-identity codes mixed",
            steps: [KafkaError.Code.unknownProducerId, .outOfOrderSequenceNumber, .invalidProducerIdMapping, .invalidProducerEpoch]
                .enumerated().flatMap { index, code in failures(3, code, every: 0.1, from: Double(index) * 0.3) },
            unusable: true),
        .init(label: "one batch failing at once is not a run", steps: failures(50, .invalidProducerEpoch, every: 0), unusable: false),
        .init(label: "one failure short of a run", steps: failures(9, .unknownProducerId, every: 0.5), unusable: false),
        .init(
            label: "an acknowledgement breaks the run",
            steps: failures(5, .unknownProducerId, every: 0.3) + [.acknowledged] + failures(5, .unknownProducerId, every: 0.3, from: 1.5),
            unusable: false),
        .init(
            label: "timeouts are not a broken handle (an absent broker is not fixed by a new one)",
            steps: failures(30, .messageTimedOut, every: 0.5) + failures(30, .transport, every: 0.5, from: 15), unusable: false),
        .init(
            label: "epoch churn without acknowledgements",
            steps: [.statistics(producerEpoch: 0), .statistics(producerEpoch: 6), .statistics(producerEpoch: 12)],
            unusable: true),
        .init(
            label: "epoch churn counts from the last acknowledgement",
            steps: [
                .statistics(producerEpoch: 0), .statistics(producerEpoch: 8), .acknowledged, .statistics(producerEpoch: 9),
                .statistics(producerEpoch: 15),
            ],
            unusable: false),
        .init(
            label: "a steady epoch is healthy",
            steps: Array(repeating: .statistics(producerEpoch: 3), count: 20), unusable: false),
        .init(
            label: "no epoch without idempotence",
            steps: [.statistics(producerEpoch: -1), .statistics(producerEpoch: -1), .statistics(producerEpoch: -1)], unusable: false),
        .init(
            label: "occasional epoch bumps between acknowledgements are healthy",
            steps: (0..<30).flatMap { [HealthStep.statistics(producerEpoch: $0), .acknowledged] }, unusable: false),
        .init(
            label: "every broker down after an acknowledgement: a new session", steps: [.acknowledged, .allBrokersDown], unusable: true),
        .init(
            label: "every broker down once it had a producer id: a new session",
            steps: [.statistics(producerEpoch: 0), .allBrokersDown], unusable: true),
        .init(
            label: "every broker down before it ever reached one: kept (a handle made during an outage)",
            steps: [.statistics(producerEpoch: -1), .allBrokersDown, .allBrokersDown], unusable: false),
    ]
}

@Suite struct ProducerHandleHealthTests {
    @Test(arguments: HealthScenario.all)
    func judgesTheHandleFromWhatItReports(_ scenario: HealthScenario) {
        var health = ProducerHandleHealth()
        let start = ContinuousClock.now
        var verdicts: [String] = []
        for step in scenario.steps {
            switch step {
            case .failed(let code, let seconds):
                if let reason = health.deliveryFailed(code, at: start + .seconds(seconds)) { verdicts.append(reason) }
            case .acknowledged:
                health.deliveryAcknowledged()
            case .statistics(let epoch):
                if let reason = health.statisticsReported(producerEpoch: epoch) { verdicts.append(reason) }
            case .allBrokersDown:
                if let reason = health.allBrokersDown() { verdicts.append(reason) }
            }
        }
        #expect(!verdicts.isEmpty == scenario.unusable, "verdicts: \(verdicts)")
    }
}
