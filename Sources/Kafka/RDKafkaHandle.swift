internal import CRdKafka
import Dispatch
import Logging
import Synchronization

/// Owns a librdkafka client handle (and, for the test mock cluster, the cluster hosted by it).
///
/// This is the module's only `@unchecked Sendable` type. It is sound because:
/// - the pointers are immutable for the box's lifetime;
/// - librdkafka documents `rd_kafka_t` as thread safe: its API may be called from any thread. The
///   calls that must not overlap (`rd_kafka_consumer_poll` vs. `rd_kafka_consumer_close`,
///   `rd_kafka_poll` vs. `rd_kafka_flush`) are serialised by the owning client on one serial queue;
/// - `rd_kafka_destroy` runs only in `deinit`, i.e. once nobody can reach the pointer any more.
///   Every block that touches the handle captures this box, which keeps the handle alive.
final class RDKafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let mockCluster: OpaquePointer?
    /// Retained for as long as librdkafka can call back into Swift, i.e. until after destroy.
    private let context: Unmanaged<ClientContext>

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
        rd_kafka_destroy(pointer)
        context.release()
    }

    var name: String {
        String(cString: rd_kafka_name(pointer))
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
        properties: [(String, String)],
        context: ClientContext,
        installDeliveryReports: Bool = false,
        hostMockCluster brokers: Int? = nil
    ) throws(KafkaError) -> RDKafkaHandle {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, message: "rd_kafka_conf_new failed")
        }
        var confOwned = true
        defer { if confOwned { rd_kafka_conf_destroy(conf) } }

        for (name, value) in properties {
            var errstr = [CChar](repeating: 0, count: 512)
            let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
            guard result == RD_KAFKA_CONF_OK else {
                throw KafkaError(
                    code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue,
                    message: "invalid property \(name)=\(value): \(String(nulTerminated: errstr))",
                    isRetriable: false
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
            throw KafkaError(
                code: RD_KAFKA_RESP_ERR__FAIL.rawValue,
                message: "rd_kafka_new failed: \(String(nulTerminated: errstr))",
                isRetriable: false
            )
        }
        confOwned = false  // rd_kafka_new took it

        var mockCluster: OpaquePointer?
        if let brokers {
            guard let cluster = rd_kafka_mock_cluster_new(client, Int32(brokers)) else {
                rd_kafka_destroy(client)
                unmanaged.release()
                throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, message: "rd_kafka_mock_cluster_new failed")
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
    let code = rd_kafka_resp_err_t(rawValue: err)
    var text = reason.map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(code))
    var level = Logger.Level.error
    if code == RD_KAFKA_RESP_ERR__FATAL, let client {
        // The callback only says "fatal"; the underlying cause has to be fetched separately.
        var buffer = [CChar](repeating: 0, count: 512)
        let underlying = rd_kafka_fatal_error(client, &buffer, buffer.count)
        text = "fatal: \(String(cString: rd_kafka_err2str(underlying))): \(String(nulTerminated: buffer))"
        level = .critical
    } else if code == RD_KAFKA_RESP_ERR__TRANSPORT {
        // The log callback has already reported this disconnect (facility FAIL) at librdkafka's
        // own level; repeating it here would double every line while a broker is down.
        level = .debug
    } else if code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN {
        // librdkafka keeps reconnecting on its own; expected while brokers restart.
        level = .warning
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
private let deliveryReportCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
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

// MARK: - Running blocking librdkafka calls off the cooperative pool

extension DispatchQueue {
    /// Runs `body` on this queue and suspends the caller until it has finished, so blocking
    /// librdkafka calls tie up a dispatch thread instead of one of Swift's few cooperative ones.
    func perform<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            self.async { continuation.resume(returning: body()) }
        }
    }
}

// MARK: - Connectivity

/// Answers "is at least one broker reachable?" without blocking the caller: a metadata request
/// with a short timeout on a private queue, whose answer is cached briefly so that frequent
/// health probes do not each cost a round trip, and concurrent callers share one request.
final class ConnectivityProbe: Sendable {
    private struct State {
        var lastAnswer = false
        var answeredAt: ContinuousClock.Instant?
        var waiters: [CheckedContinuation<Bool, Never>]?
    }

    private let state = Mutex(State())
    private let queue: DispatchQueue
    private let cacheFor: Duration = .seconds(1)
    private let timeoutMilliseconds: Int32 = 1000

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func isConnected(_ handle: RDKafkaHandle) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            enum Action { case answer(Bool), wait, probe }
            let now = ContinuousClock.now
            let action: Action = state.withLock { state in
                if let at = state.answeredAt, now - at < cacheFor {
                    return .answer(state.lastAnswer)
                }
                if state.waiters != nil {
                    state.waiters!.append(continuation)
                    return .wait
                }
                state.waiters = [continuation]
                return .probe
            }
            switch action {
            case .answer(let value):
                continuation.resume(returning: value)
            case .wait:
                break
            case .probe:
                let timeout = timeoutMilliseconds
                queue.async { [self] in
                    var metadata: UnsafePointer<rd_kafka_metadata>?
                    // all_topics=0 without a topic handle asks only for the locally known
                    // topics: a cheap request that still needs a live broker to answer.
                    let err = rd_kafka_metadata(handle.pointer, 0, nil, &metadata, timeout)
                    if let metadata { rd_kafka_metadata_destroy(metadata) }
                    let connected = err == RD_KAFKA_RESP_ERR_NO_ERROR
                    let waiters = state.withLock { state in
                        state.lastAnswer = connected
                        state.answeredAt = .now
                        defer { state.waiters = nil }
                        return state.waiters ?? []
                    }
                    for waiter in waiters { waiter.resume(returning: connected) }
                }
            }
        }
    }
}

// MARK: - Shared configuration helpers

enum KafkaDefaults {
    static func logCreation(_ handle: RDKafkaHandle, role: String, bootstrapServers: String, logger: Logger) {
        logger.info(
            "librdkafka \(KafkaLibrary.versionString) loaded",
            metadata: [
                "kafka.version": .string(KafkaLibrary.versionString),
                "kafka.client": .string(handle.name),
                "kafka.role": .string(role),
                "kafka.bootstrap.servers": .string(bootstrapServers),
            ]
        )
    }

    /// Defaults first, then the identity, then the caller's properties (sorted, so that the
    /// outcome does not depend on dictionary order should two of them interact).
    static func merge(
        defaults: [(String, String)],
        identity: [(String, String)],
        overrides: [String: String]
    ) -> [(String, String)] {
        defaults + identity + overrides.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// A latch that fires once; used to wait for graceful shutdown or cancellation without
/// occupying a thread.
final class OneShotSignal: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if state.fired { return [] }
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let fired = state.withLock { state in
                if !state.fired { state.waiters.append(continuation) }
                return state.fired
            }
            if fired { continuation.resume() }
        }
    }
}

extension String {
    /// For librdkafka's fixed-size error-string buffers.
    init(nulTerminated buffer: [CChar]) {
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
