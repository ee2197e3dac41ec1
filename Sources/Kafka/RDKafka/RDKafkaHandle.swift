internal import CRdKafka
import Foundation
import Logging
import Synchronization

/// Owns a librdkafka client handle (and, for the test mock cluster, the cluster hosted by it).
///
/// This is the module's only `@unchecked Sendable` type. It is sound because:
/// - the pointers are immutable for the box's lifetime;
/// - librdkafka documents `rd_kafka_t` as thread safe: its API may be called from any thread. The
///   calls that must not overlap (`rd_kafka_consumer_poll` vs. `rd_kafka_consumer_close`,
///   `rd_kafka_poll` vs. `rd_kafka_flush`) are serialised by the owning client on one serial queue;
///   those calls are the extensions in this folder (RDKafkaProducer/RDKafkaConsumer.swift);
/// - `rd_kafka_destroy` runs only in `deinit`, i.e. once nobody can reach the pointer any more.
///   Every block that touches the handle captures this box, which keeps the handle alive.
final class RDKafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let mockCluster: OpaquePointer?
    /// Retained for as long as librdkafka can call back into Swift, i.e. until after destroy.
    private let context: Unmanaged<ClientContext>
    /// Set by a consumer that gave up leaving its group (no broker answers): destroying must not
    /// try again, since librdkafka's implicit close would wait for the coordinator just the same.
    private let skipsConsumerClose = Mutex(false)

    fileprivate init(pointer: OpaquePointer, mockCluster: OpaquePointer?, context: Unmanaged<ClientContext>) {
        self.pointer = pointer
        self.mockCluster = mockCluster
        self.context = context
    }

    deinit {
        if let mockCluster {
            rd_kafka_mock_cluster_destroy(mockCluster)
        }
        // Joins librdkafka's threads, so log callbacks have stopped before the context goes away.
        guard skipsConsumerClose.withLock({ $0 }) else {
            rd_kafka_destroy(pointer)
            context.release()
            return
        }
        // A consumer that could not reach its broker at close: librdkafka still waits, seconds, for
        // the commits in flight to time out. Nothing depends on that any more, so the wait happens
        // on a thread of its own, and a process that is exiting does not wait for it.
        // Handed over as an address: this object, the pointer's owner, is gone once deinit returns.
        let address = Int(bitPattern: pointer)
        let context = self.context
        Thread.detachNewThread {
            if let pointer = OpaquePointer(bitPattern: address) {
                rd_kafka_destroy_flags(pointer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
            }
            context.release()
        }
    }

    var name: String {
        String(cString: rd_kafka_name(pointer))
    }

    /// For a consumer that leaves without a goodbye: its group drops it after the session timeout.
    func skipConsumerCloseOnDestroy() {
        skipsConsumerClose.withLock { $0 = true }
    }

    enum Kind {
        case producer, consumer

        var cType: rd_kafka_type_t {
            switch self {
            case .producer: RD_KAFKA_PRODUCER
            case .consumer: RD_KAFKA_CONSUMER
            }
        }
    }

    /// Builds the configuration, installs the callbacks and creates the client.
    /// `properties` are applied in order, so later entries override earlier ones.
    static func make(
        kind: Kind,
        properties: [LibrdkafkaProperty],
        context: ClientContext,
        installDeliveryReports: Bool = false,
        hostMockCluster brokers: Int? = nil
    ) throws(KafkaError) -> RDKafkaHandle {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(.fail, context: "rd_kafka_conf_new failed")
        }
        var confOwned = true
        defer { if confOwned { rd_kafka_conf_destroy(conf) } }

        for (name, value) in properties {
            var errstr = [CChar](repeating: 0, count: 512)
            let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
            guard result == RD_KAFKA_CONF_OK else {
                // Unknown name or unacceptable value; errstr says which.
                throw KafkaError(
                    code: .invalidArgument,
                    message: "invalid property \(name)=\(value): \(String(nulTerminated: errstr))"
                )
            }
        }

        rd_kafka_conf_set_log_cb(conf, logCallback)
        rd_kafka_conf_set_error_cb(conf, errorCallback)
        if installDeliveryReports {
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
        }
        let unmanaged = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, unmanaged.toOpaque())

        var errstr = [CChar](repeating: 0, count: 512)
        guard let client = rd_kafka_new(kind.cType, conf, &errstr, errstr.count) else {
            unmanaged.release()
            // rd_kafka_new records why in the calling thread's last error: __INVALID_ARG when the
            // properties contradict each other (e.g. idempotence without acks=all).
            let reason = rd_kafka_last_error()
            throw KafkaError(
                code: reason == RD_KAFKA_RESP_ERR_NO_ERROR ? .fail : KafkaError.Code(reason),
                message: "rd_kafka_new failed: \(String(nulTerminated: errstr))"
            )
        }
        confOwned = false  // rd_kafka_new took it

        var mockCluster: OpaquePointer?
        if let brokers {
            guard let cluster = rd_kafka_mock_cluster_new(client, Int32(clamping: brokers)) else {
                rd_kafka_destroy(client)
                unmanaged.release()
                throw KafkaError(.fail, context: "rd_kafka_mock_cluster_new failed")
            }
            mockCluster = cluster
        }
        return RDKafkaHandle(pointer: client, mockCluster: mockCluster, context: unmanaged)
    }
}

/// What librdkafka's C callbacks reach through the `opaque` pointer.
final class ClientContext: Sendable {
    let logger: Logger
    /// Only producers have one; the delivery-report callback resolves `send()` through it.
    let deliveries: DeliveryTable?

    init(logger: Logger, deliveries: DeliveryTable? = nil) {
        self.logger = logger
        self.deliveries = deliveries
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

// MARK: - C callbacks (no captures allowed, so everything goes through the opaque)

/// Called on librdkafka's internal threads; swift-log handlers are thread safe, so log directly.
private let logCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    client, level, facility, buffer in
    guard let context = ClientContext.from(client) else { return }
    let message = buffer.map { String(cString: $0) } ?? ""
    context.logger.log(
        level: Logger.Level(syslogLevel: level),
        "\(message)",
        metadata: [
            "kafka.facility": .string(facility.map { String(cString: $0) } ?? ""),
            "kafka.client": .string(client.map { String(cString: rd_kafka_name($0)) } ?? ""),
        ]
    )
}

/// Served from `rd_kafka_poll` / `rd_kafka_consumer_poll`, so it runs on the client's own queue.
private let errorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
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
    case .transport:
        // The log callback has already reported this disconnect (facility FAIL) at librdkafka's
        // own level; repeating it here would double every line while a broker is down.
        level = .debug
    case .allBrokersDown:
        // librdkafka keeps reconnecting on its own; expected while brokers restart.
        level = .warning
    default:
        level = .error
    }
    context.logger.log(
        level: level,
        "librdkafka error: \(text)",
        metadata: [
            "kafka.error.code": .stringConvertible(err),
            "kafka.client": .string(client.map { String(cString: rd_kafka_name($0)) } ?? ""),
        ]
    )
}

/// Served from `rd_kafka_poll` / `rd_kafka_flush` on the producer's queue.
private let deliveryReportCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void =
    {
        _, message, opaque in
        guard let message, let deliveries = ClientContext.from(opaque: opaque)?.deliveries else { return }
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
            result = .failure(KafkaError(message.pointee.err))
        }
        deliveries.resolve(id: id, with: result)
    }

extension Logger.Level {
    init(syslogLevel level: Int32) {
        switch level {
        case ...2: self = .critical
        case 3: self = .error
        case 4: self = .warning
        case 5: self = .notice
        case 6: self = .info
        default: self = .debug
        }
    }
}

extension String {
    /// For librdkafka's fixed-size error-string buffers.
    init(nulTerminated buffer: [CChar]) {
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
