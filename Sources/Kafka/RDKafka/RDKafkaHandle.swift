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
///   Every block that touches the handle captures this box, which keeps the handle alive. (A
///   producer that replaces its handle makes sure the retired one's last reference is dropped on
///   its own queue, so that the blocking destroy runs there: see KafkaProducer+Recovery.swift.)
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

    /// Builds the configuration, installs the callbacks and creates the client (with delivery
    /// reports and statistics if `context` belongs to a producer). `properties` are applied in
    /// order, so later entries override earlier ones.
    static func make(
        kind: Kind,
        properties: [LibrdkafkaProperty],
        context: ClientContext,
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
        if context.producer != nil {
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
            rd_kafka_conf_set_stats_cb(conf, statisticsCallback)
        }
        if kind == .consumer {
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
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
