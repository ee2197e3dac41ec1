import Kafka
import Logging
import Testing

private let connectRefused =
    "127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT)"
private let brokersDown = "librdkafka error: 1/1 brokers are down"

/// One step of a scenario: a line arriving, time passing (the timer's check), or the client going away.
enum SuppressorStep: Sendable {
    case line(at: Double, _ text: String, level: Logger.Level = .error)
    case expire(at: Double)
    case closeAll(at: Double)
}

struct SuppressorScenario: Sendable, CustomTestStringConvertible {
    let label: String
    var window: Double = 30
    var capacity = 256
    let steps: [SuppressorStep]
    /// What gets logged, in order: the text for a line, "text ×N over Ss" for a summary.
    let logged: [String]
    var testDescription: String { label }

    static let all: [SuppressorScenario] = [
        .init(
            label: "identical lines: the first at once, the rest as one count when the window ends",
            steps: [.line(at: 0, "A"), .line(at: 1, "A"), .line(at: 2, "A"), .line(at: 29, "A"), .expire(at: 30)],
            logged: ["A", "A ×3 over 30s"]),
        .init(
            label: "interleaved different lines are each tracked on their own",
            steps: [.line(at: 0, "A"), .line(at: 1, "B"), .line(at: 2, "A"), .line(at: 3, "B"), .line(at: 4, "A"), .expire(at: 31)],
            logged: ["A", "B", "A ×2 over 30s", "B ×1 over 30s"]),
        .init(
            label: "a line after the window summarises the old window and opens a new one",
            steps: [.line(at: 0, "A"), .line(at: 10, "A"), .line(at: 31, "A"), .line(at: 32, "A"), .expire(at: 61)],
            logged: ["A", "A ×1 over 30s", "A", "A ×1 over 30s"]),
        .init(
            label: "a different line arriving after the window also brings out the summary",
            steps: [.line(at: 0, "A"), .line(at: 5, "A"), .line(at: 40, "B")],
            logged: ["A", "A ×1 over 30s", "B"]),
        .init(
            label: "nothing repeated, nothing summarised",
            steps: [.line(at: 0, "A"), .expire(at: 30), .line(at: 31, "A")],
            logged: ["A", "A"]),
        .init(
            label: "before the window ends nothing is summarised",
            steps: [.line(at: 0, "A"), .line(at: 1, "A"), .expire(at: 29.9)],
            logged: ["A"]),
        .init(
            label: "the same text at another level is another line",
            steps: [.line(at: 0, "A", level: .error), .line(at: 1, "A", level: .warning), .line(at: 2, "A", level: .error)],
            logged: ["A", "A"]),
        .init(
            label: "retry timings do not make lines different",
            steps: [
                .line(at: 0, connectRefused),
                .line(at: 1, connectRefused.replacing("after 0ms", with: "after 12ms")),
                .line(at: 2, connectRefused.replacing("after 0ms", with: "after 3ms")),
                .expire(at: 30),
            ],
            logged: [connectRefused, "\(connectRefused) ×2 over 30s"]),
        .init(
            label: "closing summarises what is held back, over the time so far",
            window: 30,
            steps: [.line(at: 0, brokersDown), .line(at: 5, brokersDown), .line(at: 6, brokersDown), .closeAll(at: 8)],
            logged: [brokersDown, "\(brokersDown) ×2 over 8s"]),
        .init(
            label: "a short window, as tests use",
            window: 0.5,
            steps: [.line(at: 0, "A"), .line(at: 0.2, "A"), .line(at: 0.6, "A"), .expire(at: 1.2)],
            logged: ["A", "A ×1 over 0.5s", "A"]),
        .init(
            label: "beyond capacity lines are logged untracked",
            capacity: 2,
            steps: [.line(at: 0, "A"), .line(at: 1, "B"), .line(at: 2, "C"), .line(at: 3, "C"), .line(at: 4, "A")],
            logged: ["A", "B", "C", "C"]),
    ]
}

@Suite struct RepeatedLineSuppressorTests {
    @Test(arguments: SuppressorScenario.all)
    func logsTheFirstOccurrenceAndCountsTheRepeats(_ scenario: SuppressorScenario) {
        var suppressor = RepeatedLineSuppressor(window: .seconds(scenario.window), capacity: scenario.capacity)
        let start = ContinuousClock.now
        func at(_ seconds: Double) -> ContinuousClock.Instant { start + .seconds(seconds) }
        var logged: [String] = []
        for step in scenario.steps {
            let outcome: RepeatedLineSuppressor.Outcome
            switch step {
            case .line(let time, let text, let level):
                let line = LibrdkafkaLogLine(client: "c#producer-1", level: level, category: "FAIL", message: text, metadata: [:])
                outcome = suppressor.submit(line, at: at(time))
            case .expire(let time):
                outcome = suppressor.expire(at: at(time))
            case .closeAll(let time):
                outcome = suppressor.closeAll(at: at(time))
            }
            logged += outcome.emissions.map(render)
        }
        #expect(logged == scenario.logged)
    }

    @Test func theFirstRepeatAsksForACheckWhenItsWindowEnds() {
        var suppressor = RepeatedLineSuppressor(window: .seconds(30))
        let start = ContinuousClock.now
        let line = LibrdkafkaLogLine(client: "c", level: .error, category: "FAIL", message: "A", metadata: [:])
        #expect(suppressor.submit(line, at: start).checkAgainAfter == nil)
        #expect(suppressor.submit(line, at: start + .seconds(10)).checkAgainAfter == .seconds(20))
        // The window already has its check.
        #expect(suppressor.submit(line, at: start + .seconds(11)).checkAgainAfter == nil)
    }

    @Test(arguments: [
        (3, 30.0, "x (repeated 3 times in the last 30 s)"),
        (1, 30.0, "x (repeated once in the last 30 s)"),
        (40, 2.5, "x (repeated 40 times in the last 2.5 s)"),
    ])
    func summaryNamesTheCountAndTheSpan(_ repeats: Int, _ seconds: Double, _ expected: String) {
        #expect(RepeatedLineSuppressor.summary(of: "x", repeats: repeats, span: .seconds(seconds)) == expected)
    }

    @Test(arguments: [
        ("Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)", "(after #ms in state CONNECT)"),
        ("Disconnected (after 5905ms in state UP)", "(after #ms in state UP)"),
        ("failed: Connection refused (after 1ms in state CONNECT, 4 identical error(s) suppressed)", "# identical error(s) suppressed"),
    ])
    func volatilePartsAreNormalised(_ text: String, _ expectedPart: String) {
        #expect(LibrdkafkaLogLine.normalized(text).contains(expectedPart))
        // Addresses are not volatile: lines about different brokers stay different.
        #expect(LibrdkafkaLogLine.normalized("127.0.0.1:9092 down") != LibrdkafkaLogLine.normalized("127.0.0.1:9093 down"))
    }

    private func render(_ emission: RepeatedLineSuppressor.Emission) -> String {
        switch emission {
        case .line(let line): line.message
        case .summary(let line, let repeats, let span): "\(line.message) ×\(repeats) over \(Self.seconds(span))s"
        }
    }

    private static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let value = Double(seconds) + Double(attoseconds) / 1e18
        return value == value.rounded() ? "\(Int(value))" : "\(value)"
    }
}
