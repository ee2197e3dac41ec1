import CinemaPolling
import Kafka
import Logging
import ServiceLifecycle
import Synchronization

/// Warnings and up only: librdkafka's connection-refused chatter in the "broker down" test is
/// expected, anything else at that level is worth seeing when a test fails.
let testLogger: Logger = {
    var logger = Logger(label: "kafka-tests")
    logger.logLevel = .warning
    return logger
}()

/// Races `operation` against a deadline. The deadline is a bound on a wait, not a fixed sleep:
/// the operation finishes as soon as its condition holds.
func withDeadline<T: Sendable>(
    _ seconds: Double,
    _ what: String,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimedOut(waitingFor: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Runs the services in a ServiceGroup around `body`, then shuts them down gracefully and waits
/// for every `run()` to return, as an application would at SIGTERM.
func withRunningServices<T: Sendable>(
    _ services: [any Service],
    _ body: () async throws -> T
) async throws -> T {
    let group = ServiceGroup(services: services, logger: testLogger)
    let running = Task { try await group.run() }
    let result: T
    do {
        result = try await body()
    } catch {
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        throw error
    }
    await group.triggerGracefulShutdown()
    try await withDeadline(15, "service group shutdown") { try await running.value }
    return result
}

/// Iterates `consumer.messages` until `count` messages arrived, handing each to `onMessage`.
func collect(
    _ count: Int,
    from consumer: KafkaConsumer,
    timeout: Double = 20,
    onMessage: @escaping @Sendable (KafkaConsumerMessage) throws -> Void = { _ in }
) async throws -> [KafkaConsumerMessage] {
    try await withDeadline(timeout, "receiving \(count) messages") {
        var received: [KafkaConsumerMessage] = []
        for try await message in consumer.messages {
            try onMessage(message)
            received.append(message)
            if received.count == count { break }
        }
        return received
    }
}

/// A producer for the tests, logging to the test logger.
func makeProducer(_ bootstrapServers: String, clientID: String, _ properties: [String: String] = [:]) throws -> KafkaProducer {
    try KafkaProducer(
        configuration: .init(bootstrapServers: bootstrapServers, clientID: clientID, properties: properties),
        logger: testLogger
    )
}

func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }
func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

/// Keeps every record logged through `logger`, at every level, for tests that assert on logs.
final class LogCapture: Sendable {
    struct Record: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: Logger.Metadata
    }

    private let storage = Mutex<[Record]>([])

    var records: [Record] { storage.withLock { $0 } }

    /// A logger writing into this capture, passing through `level` and above.
    func logger(label: String, level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: label) { _ in CapturingLogHandler(capture: self) }
        logger.logLevel = level
        return logger
    }

    fileprivate func append(_ record: Record) {
        storage.withLock { $0.append(record) }
    }
}

private struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        capture.append(.init(level: event.level, message: "\(event.message)", metadata: merged))
    }
}
