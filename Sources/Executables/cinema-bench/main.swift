// The Kafka side of `make bench` (scripts/bench.py): how fast our Kafka module produces and
// consumes, to stand beside librdkafka's own tools on the same broker. Not shipped in the image.
//
//   cinema-bench produce BROKERS TOPIC COUNT SIZE   N messages of SIZE bytes; prints a JSON line
//   cinema-bench consume BROKERS TOPIC COUNT        reads N messages from the start in a new group
import Foundation
import Kafka
import Logging
import ServiceLifecycle

/// What the orchestrator reads: one JSON object on stdout.
struct Measurement: Encodable {
    let mode: String
    let messages: Int
    let bytes: Int
    let seconds: Double
    let messagesPerSecond: Double
    let failures: Int
}

enum BenchArguments {
    case produce(brokers: String, topic: String, count: Int, size: Int)
    case consume(brokers: String, topic: String, count: Int)

    init?(_ arguments: [String]) {
        switch arguments.first {
        case "produce" where arguments.count == 5:
            guard let count = Int(arguments[3]), count > 0, let size = Int(arguments[4]), size > 0 else { return nil }
            self = .produce(brokers: arguments[1], topic: arguments[2], count: count, size: size)
        case "consume" where arguments.count == 4:
            guard let count = Int(arguments[3]), count > 0 else { return nil }
            self = .consume(brokers: arguments[1], topic: arguments[2], count: count)
        default:
            return nil
        }
    }
}

/// Produces through `KafkaProducer` exactly as the services' outbox relay does (idempotent,
/// acks=all), keeping several ordered batches in flight so the producer, not this loop, is the limit.
func produce(brokers: String, topic: String, count: Int, size: Int, logger: Logger) async throws -> Measurement {
    let producer = try KafkaProducer(
        configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientID: "cinema-bench"), logger: logger)
    let value = [UInt8](repeating: UInt8(ascii: "x"), count: size)
    let batchSize = 10_000
    let batchesInFlight = 4
    let started = ContinuousClock.now
    var failures = 0
    try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await producer.run() }
        failures = await withTaskGroup(of: Int.self) { batches in
            var nextStart = 0
            var failed = 0
            func addBatch() {
                let end = min(nextStart + batchSize, count)
                let messages = (nextStart..<end).map { index in
                    KafkaOutgoingMessage(topic: topic, key: Array(String(index % 64).utf8), value: value)
                }
                nextStart = end
                batches.addTask {
                    await producer.send(inOrder: messages).count { if case .failure = $0 { true } else { false } }
                }
            }
            while nextStart < count, nextStart < batchSize * batchesInFlight { addBatch() }
            for await batchFailures in batches {
                failed += batchFailures
                if nextStart < count { addBatch() }
            }
            return failed
        }
        group.cancelAll()
    }
    let seconds = (ContinuousClock.now - started).seconds
    return Measurement(
        mode: "produce", messages: count, bytes: count * size, seconds: seconds,
        messagesPerSecond: Double(count) / seconds, failures: failures)
}

/// Reads through `KafkaConsumer` in a fresh group from the earliest offset, storing each offset
/// as the services do; the clock starts at the first message, so the group join is not counted.
func consume(brokers: String, topic: String, count: Int, logger: Logger) async throws -> Measurement {
    var configuration = KafkaConsumerConfiguration(
        bootstrapServers: brokers, groupID: "cinema-bench-\(UUID().uuidString)", topics: [topic], clientID: "cinema-bench")
    configuration.autoOffsetReset = .earliest
    let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
    var received = 0
    var bytes = 0
    var firstAt: ContinuousClock.Instant?
    try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await consumer.run() }
        for try await message in consumer.messages {
            if firstAt == nil { firstAt = .now }
            try consumer.storeOffset(of: message)
            received += 1
            bytes += message.value.count
            if received >= count { break }
        }
        group.cancelAll()
    }
    let seconds = firstAt.map { (ContinuousClock.now - $0).seconds } ?? 0
    return Measurement(
        mode: "consume", messages: received, bytes: bytes, seconds: seconds,
        messagesPerSecond: seconds > 0 ? Double(received) / seconds : 0, failures: count - received)
}

extension Duration {
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}

LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
var logger = Logger(label: "cinema-bench")
logger.logLevel = .warning
guard let arguments = BenchArguments(Array(CommandLine.arguments.dropFirst())) else {
    FileHandle.standardError.write(
        Data("usage: cinema-bench produce BROKERS TOPIC COUNT SIZE | consume BROKERS TOPIC COUNT\n".utf8))
    exit(2)
}
do {
    let measurement =
        switch arguments {
        case .produce(let brokers, let topic, let count, let size):
            try await produce(brokers: brokers, topic: topic, count: count, size: size, logger: logger)
        case .consume(let brokers, let topic, let count):
            try await consume(brokers: brokers, topic: topic, count: count, logger: logger)
        }
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    print(String(decoding: try encoder.encode(measurement), as: UTF8.self))
    exit(measurement.failures == 0 ? 0 : 1)
} catch {
    logger.error("cinema-bench failed", metadata: ["error": .string(String(describing: error))])
    exit(1)
}
