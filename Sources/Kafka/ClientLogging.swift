import Dispatch
import Logging
import Synchronization

extension Logger {
    /// One line per client at creation: which librdkafka was really loaded matters when
    /// diagnosing (see ENVIRONMENT.md: the headers' version and the library's can differ).
    func logCreation(of handle: RDKafkaHandle, role: String, bootstrapServers: String) {
        info(
            "librdkafka \(KafkaLibrary.versionString) loaded",
            metadata: [
                "kafka.version": .string(KafkaLibrary.versionString),
                "kafka.client": .string(handle.name),
                "kafka.role": .string(role),
                "kafka.bootstrap.servers": .string(bootstrapServers),
            ]
        )
    }
}

/// Logs librdkafka's lines through `RepeatedLineSuppressor`, so that a broker that stays away
/// costs a line and a periodic count instead of a line per reconnect attempt. Called from
/// librdkafka's own threads (log callback) and from the clients' poll queues (error callback):
/// the suppressor decides under the lock, the logging happens outside it.
final class RepeatedLineFilter: Sendable {
    private let logger: Logger
    private let suppressor: Mutex<RepeatedLineSuppressor>

    init(logger: Logger, window: Duration) {
        self.logger = logger
        self.suppressor = Mutex(RepeatedLineSuppressor(window: window))
    }

    func log(_ line: LibrdkafkaLogLine) {
        // A line the logger would drop anyway needs neither the lock nor a window.
        guard line.level >= logger.logLevel else { return }
        let outcome = suppressor.withLock { $0.submit(line, at: .now) }
        emit(outcome.emissions)
        if let delay = outcome.checkAgainAfter {
            // A little late on purpose: Dispatch's clock and ContinuousClock need not agree to the
            // microsecond, and a check that comes too early would find the window still open.
            DispatchQueue.global().asyncAfter(deadline: .now() + delay.timeInterval + 0.05) { [self] in
                emit(suppressor.withLock { $0.expire(at: .now) }.emissions)
            }
        }
    }

    /// Summarises whatever is still held back; for when the client is destroyed.
    func closeAll() {
        emit(suppressor.withLock { $0.closeAll(at: .now) }.emissions)
    }

    private func emit(_ emissions: [RepeatedLineSuppressor.Emission]) {
        for emission in emissions {
            switch emission {
            case .line(let line):
                logger.log(level: line.level, "\(line.message)", metadata: line.metadata)
            case .summary(let line, let repeats, let span):
                var metadata = line.metadata
                metadata["kafka.repeated"] = .stringConvertible(repeats)
                let text = RepeatedLineSuppressor.summary(of: line.message, repeats: repeats, span: span)
                logger.log(level: line.level, "\(text)", metadata: metadata)
            }
        }
    }
}

extension Duration {
    /// Seconds with at most one decimal, without a trailing ".0": "30", "2.5".
    var roundedSeconds: String {
        let tenths = Int64((timeInterval * 10).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
    }

    var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
