internal import CRdKafka
import Logging

/// What librdkafka's C callbacks reach through the `opaque` pointer. One per handle.
final class ClientContext: Sendable {
    let logger: Logger
    let lines: RepeatedLineFilter
    /// Only producers have one: the delivery-report and statistics callbacks report through it.
    let producer: ProducerHooks?

    init(logger: Logger, repeatedLineWindow: Duration, producer: ProducerHooks? = nil) {
        self.logger = logger
        self.lines = RepeatedLineFilter(logger: logger, window: repeatedLineWindow)
        self.producer = producer
    }

    /// Released after `rd_kafka_destroy`, when no callback can come any more: the counts of lines
    /// still held back are logged now rather than lost.
    deinit {
        lines.closeAll()
    }

    static func from(_ client: OpaquePointer?) -> ClientContext? {
        guard let client, let opaque = rd_kafka_opaque(client) else { return nil }
        return from(opaque: opaque)
    }

    static func from(opaque: UnsafeMutableRawPointer?) -> ClientContext? {
        guard let opaque else { return nil }
        return Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// Where a producer handle's callbacks report, tagged with the handle's generation so that late
/// reports from a replaced handle can be told apart. Weak, because the state owns the handle, and
/// the handle (through its context) these hooks: a strong reference would keep all three alive
/// for ever, librdkafka's threads included, once the producer is dropped.
struct ProducerHooks: Sendable {
    weak let state: ProducerState?
    let generation: Int
}

// MARK: - C callbacks (no captures allowed, so everything goes through the opaque)

/// Called on librdkafka's internal threads; the filter and swift-log handlers are thread safe.
let logCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    client, level, facility, buffer in
    guard let context = ClientContext.from(client) else { return }
    let clientName = client.map { String(cString: rd_kafka_name($0)) } ?? ""
    let facilityName = facility.map { String(cString: $0) } ?? ""
    context.lines.log(
        LibrdkafkaLogLine(
            client: clientName,
            level: Logger.Level(syslogLevel: level),
            category: facilityName,
            message: buffer.map { String(cString: $0) } ?? "",
            metadata: ["kafka.facility": .string(facilityName), "kafka.client": .string(clientName)]
        )
    )
}

/// Served from `rd_kafka_poll` / `rd_kafka_consumer_poll`, so it runs on the client's own queue.
let errorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    client, err, reason, opaque in
    guard let context = ClientContext.from(opaque: opaque) else { return }
    let code = KafkaError.Code(rawValue: err)
    var text = reason.map { String(cString: $0) } ?? code.librdkafkaDescription
    let level: Logger.Level
    switch code {
    case .fatal:
        // The callback only says "fatal"; the underlying cause has to be fetched separately.
        var buffer = [CChar](repeating: 0, count: 512)
        if let client {
            let underlying = rd_kafka_fatal_error(client, &buffer, buffer.count)
            text = "fatal: \(String(cString: rd_kafka_err2str(underlying))): \(String(nulTerminated: buffer))"
        }
        level = .critical
        // A producer replaces a handle in this state (see KafkaProducer+Recovery.swift).
        if let producer = context.producer {
            producer.state?.reportUnusable(generation: producer.generation, reason: "librdkafka raised a fatal error: \(text)", at: .now)
        }
    case .transport:
        // The log callback has already reported this disconnect (facility FAIL) at librdkafka's
        // own level; repeating it here would double every line while a broker is down.
        level = .debug
    case .allBrokersDown:
        // librdkafka keeps reconnecting on its own; expected while brokers restart. A producer
        // starts a new session afterwards (see ProducerHandleHealth).
        level = .warning
        if let producer = context.producer {
            producer.state?.allBrokersDown(generation: producer.generation, at: .now)
        }
    default:
        level = .error
    }
    let clientName = client.map { String(cString: rd_kafka_name($0)) } ?? ""
    context.lines.log(
        LibrdkafkaLogLine(
            client: clientName,
            level: level,
            category: "error \(err)",
            message: "librdkafka error: \(text)",
            metadata: ["kafka.error.code": .stringConvertible(err), "kafka.client": .string(clientName)]
        )
    )
}

/// Served from `rd_kafka_poll` / `rd_kafka_flush` on the producer's queue.
let deliveryReportCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, opaque in
    guard let message, let producer = ClientContext.from(opaque: opaque)?.producer else { return }
    let id = UInt(bitPattern: message.pointee._private)
    let result: Result<KafkaDeliveryReport, KafkaError>
    if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
        result = .success(
            KafkaDeliveryReport(
                topic: message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
                partition: message.pointee.partition,
                offset: message.pointee.offset
            )
        )
    } else {
        var error = KafkaError(message.pointee.err)
        // The producer replaces a handle that keeps failing like this (a new handle gets a new
        // producer id), so the same message sent again can succeed.
        if error.code.isProducerIdentityError { error.isRetriable = true }
        result = .failure(error)
    }
    producer.state?.resolve(id: id, with: result, generation: producer.generation)
}

/// Served from `rd_kafka_poll` on the producer's queue every `statistics.interval.ms`. Returning
/// 0 lets librdkafka free the JSON.
let statisticsCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
    _, json, length, opaque in
    guard let json, let producer = ClientContext.from(opaque: opaque)?.producer else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: json, count: length)
    if let epoch = ProducerStatistics.producerEpoch(fromJSON: bytes) {
        producer.state?.statisticsReported(producerEpoch: epoch, generation: producer.generation, at: .now)
    }
    return 0
}

/// Served from `rd_kafka_consumer_poll` on the consumer's queue. Applies the group's decision
/// exactly as librdkafka would without a callback, and says so in the log: which partitions a
/// member reads is the first question when events seem to go missing.
let rebalanceCallback:
    @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?)
        -> Void = {
            client, err, partitions, opaque in
            guard let client else { return }
            let cooperative = String(cString: rd_kafka_rebalance_protocol(client)) == "COOPERATIVE"
            let assigning = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
            var failure: String?
            if cooperative {
                let error = assigning ? rd_kafka_incremental_assign(client, partitions) : rd_kafka_incremental_unassign(client, partitions)
                if let error {
                    failure = String(cString: rd_kafka_error_string(error))
                    rd_kafka_error_destroy(error)
                }
            } else {
                let result = rd_kafka_assign(client, assigning ? partitions : nil)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR { failure = String(cString: rd_kafka_err2str(result)) }
            }
            guard let context = ClientContext.from(opaque: opaque) else { return }
            var metadata: Logger.Metadata = [
                "kafka.client": .string(String(cString: rd_kafka_name(client))),
                "kafka.partitions": .string(partitions.map(describePartitions) ?? ""),
                "kafka.rebalance.protocol": .string(cooperative ? "cooperative" : "eager"),
            ]
            if let failure {
                metadata["kafka.error"] = .string(failure)
                context.logger.error("kafka consumer could not apply a rebalance", metadata: metadata)
            } else {
                context.logger.info(
                    assigning ? "kafka consumer assigned partitions" : "kafka consumer revoked partitions", metadata: metadata)
            }
        }

/// `cinema[0,2]` style, for log lines.
private func describePartitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> String {
    var byTopic: [String: [Int32]] = [:]
    for index in 0..<Int(list.pointee.cnt) {
        let entry = list.pointee.elems[index]
        byTopic[String(cString: entry.topic), default: []].append(entry.partition)
    }
    return byTopic.keys.sorted().map { topic in
        "\(topic)[\(byTopic[topic, default: []].sorted().map(String.init).joined(separator: ","))]"
    }.joined(separator: " ")
}
