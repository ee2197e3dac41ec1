package import Logging

/// One line librdkafka wants logged, from the log or the error callback.
package struct LibrdkafkaLogLine: Sendable {
    package var level: Logger.Level
    package var message: String
    package var metadata: Logger.Metadata
    /// What makes two lines "the same": the client, the level, the facility (log callback) or
    /// error code (error callback), and the text with its volatile parts normalised.
    package var identity: String

    package init(client: String, level: Logger.Level, category: String, message: String, metadata: Logger.Metadata) {
        self.level = level
        self.message = message
        self.metadata = metadata
        self.identity = "\(client)|\(level)|\(category)|\(Self.normalized(message))"
    }

    /// librdkafka puts timings into otherwise identical lines ("failed: Connection refused (after
    /// 0ms in state CONNECT)", "Disconnected (after 5905ms in state UP)") and sometimes its own
    /// suppression count; without removing them, retries would not compare equal.
    package static func normalized(_ text: String) -> String {
        text.replacing(#/\d+ms\b/#, with: "#ms")
            .replacing(#/\d+ identical error\(s\) suppressed/#, with: "# identical error(s) suppressed")
    }
}

/// Decides which librdkafka lines are logged: the first occurrence of a line at once; identical
/// ones within `window` after it only counted; when the window has passed, one summary with the
/// count (if there were repeats), after which the next occurrence is logged in full again.
///
/// Every line is tracked on its own rather than only the most recent one, because librdkafka
/// interleaves its repeats (the log callback's "Connect to ... failed" with the error callback's
/// "1/1 brokers are down", one broker thread's lines with another's): comparing each line only
/// with the previous one would let every one of them through.
///
/// A pure state machine: the caller supplies the time and does the logging.
package struct RepeatedLineSuppressor {
    package enum Emission: Sendable {
        /// Log this line now.
        case line(LibrdkafkaLogLine)
        /// Log a summary of this line: it was suppressed `repeats` times during `span`.
        case summary(LibrdkafkaLogLine, repeats: Int, span: Duration)
    }

    package struct Outcome: Sendable {
        package var emissions: [Emission] = []
        /// Set when a window has just started holding back a line: look for expired windows after
        /// this long, so the summary is logged even if no further line ever arrives.
        package var checkAgainAfter: Duration?
    }

    private struct Window {
        var line: LibrdkafkaLogLine
        var openedAt: ContinuousClock.Instant
        var repeats: Int
    }

    package let window: Duration
    /// Beyond this many open windows, new lines are logged without being tracked: memory stays
    /// bounded even if librdkafka produces an unbounded variety of lines.
    package let capacity: Int
    private var windows: [String: Window] = [:]

    /// "<line> (repeated 12 times in the last 30 s)".
    package static func summary(of message: String, repeats: Int, span: Duration) -> String {
        let times = repeats == 1 ? "once" : "\(repeats) times"
        return "\(message) (repeated \(times) in the last \(span.roundedSeconds) s)"
    }

    package init(window: Duration, capacity: Int = 256) {
        self.window = window
        self.capacity = capacity
    }

    package mutating func submit(_ line: LibrdkafkaLogLine, at now: ContinuousClock.Instant) -> Outcome {
        // Any arrival also closes the windows that have passed, the line's own included.
        var outcome = expire(at: now)
        if var open = windows[line.identity] {
            open.repeats += 1
            windows[line.identity] = open
            if open.repeats == 1 {
                outcome.checkAgainAfter = open.openedAt + window - now
            }
            return outcome
        }
        if windows.count < capacity {
            windows[line.identity] = Window(line: line, openedAt: now, repeats: 0)
        }
        outcome.emissions.append(.line(line))
        return outcome
    }

    /// Closes the windows that have passed and summarises those that held something back.
    package mutating func expire(at now: ContinuousClock.Instant) -> Outcome {
        close(windows.filter { now - $0.value.openedAt >= window }, at: now)
    }

    /// Closes every window, e.g. when the client goes away, so that no count is lost.
    package mutating func closeAll(at now: ContinuousClock.Instant) -> Outcome {
        close(windows, at: now)
    }

    private mutating func close(_ closing: [String: Window], at now: ContinuousClock.Instant) -> Outcome {
        var outcome = Outcome()
        // Oldest first, so summaries come out in the order their lines first appeared.
        for (identity, closed) in closing.sorted(by: { $0.value.openedAt < $1.value.openedAt }) {
            windows[identity] = nil
            guard closed.repeats > 0 else { continue }
            outcome.emissions.append(.summary(closed.line, repeats: closed.repeats, span: min(now - closed.openedAt, window)))
        }
        return outcome
    }
}
