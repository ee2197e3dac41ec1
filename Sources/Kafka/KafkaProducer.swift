internal import CRdKafka
import Dispatch
public import Logging
public import ServiceLifecycle
import Synchronization

/// Maps the per-message id we hand librdkafka as the message opaque to whoever waits for that
/// message's delivery report. Also holds the producer's lifecycle, because whether a new message
/// may still be registered and whether the table is drained must be decided atomically.
final class DeliveryTable: Sendable {
    enum Lifecycle { case idle, running, shuttingDown, finished }

    private struct State {
        var lifecycle = Lifecycle.idle
        var nextID: UInt = 1  // never 0: a null opaque would be indistinguishable from "none"
        var pending: [UInt: DeliveryPromise] = [:]
    }

    private let state = Mutex(State())

    var lifecycle: Lifecycle { state.withLock { $0.lifecycle } }
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Returns nil once shutdown has begun: the message must then not be produced at all.
    func register(_ promise: DeliveryPromise) -> UInt? {
        state.withLock { state in
            switch state.lifecycle {
            case .idle, .running:
                let id = state.nextID
                state.nextID &+= 1
                if state.nextID == 0 { state.nextID = 1 }
                state.pending[id] = promise
                return id
            case .shuttingDown, .finished:
                return nil
            }
        }
    }

    /// For a message librdkafka refused to take: nobody will report on it.
    func unregister(id: UInt) {
        _ = state.withLock { $0.pending.removeValue(forKey: id) }
    }

    /// Whoever removes the promise fulfils it, which makes every send resolve exactly once even
    /// when a delivery report and the shutdown drain race.
    func resolve(id: UInt, with result: Result<KafkaDeliveryReport, some Error>) {
        let promise = state.withLock { $0.pending.removeValue(forKey: id) }
        promise?.fulfil(result.mapError { $0 as any Error })
    }

    func start() -> Bool {
        state.withLock { state in
            guard state.lifecycle == .idle else { return false }
            state.lifecycle = .running
            return true
        }
    }

    func beginShutdown() {
        state.withLock { state in
            if state.lifecycle == .idle || state.lifecycle == .running { state.lifecycle = .shuttingDown }
        }
    }

    func finish() -> [DeliveryPromise] {
        state.withLock { state in
            state.lifecycle = .finished
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
    }
}

/// One message's delivery report, to be awaited after enqueueing: so a batch can be enqueued in
/// order first (which fixes its order on the topic) and awaited as a whole afterwards.
final class DeliveryPromise: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<KafkaDeliveryReport, any Error>)
        case done(Result<KafkaDeliveryReport, any Error>)
    }

    private let state = Mutex(State.pending)

    func fulfil(_ result: Result<KafkaDeliveryReport, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<KafkaDeliveryReport, any Error>? in
            switch state {
            case .pending:
                state = .done(result)
                return nil
            case .waiting(let continuation):
                state = .done(result)
                return continuation
            case .done:
                return nil
            }
        }
        waiter?.resume(with: result)
    }

    /// Cancelling the waiting task stops the wait with `CancellationError`. The message itself
    /// cannot be recalled: it may still be delivered, which at-least-once callers (the outbox relay
    /// re-sends what it has not seen acknowledged) must tolerate.
    var report: KafkaDeliveryReport {
        get async throws {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let ready = state.withLock { state -> Result<KafkaDeliveryReport, any Error>? in
                        switch state {
                        case .pending:
                            state = .waiting(continuation)
                            return nil
                        case .done(let result):
                            return result
                        case .waiting:
                            preconditionFailure("a delivery is awaited once")
                        }
                    }
                    if let ready { continuation.resume(with: ready) }
                }
            } onCancel: {
                fulfil(.failure(CancellationError()))
            }
        }
    }
}

/// An idempotent (acks=all) producer whose `send()` resolves with the broker's acknowledgement.
/// Delivery reports are only served while `run()` is running, so run it in the ServiceGroup.
public final class KafkaProducer: Service, Sendable {
    private let handle: RDKafkaHandle
    private let deliveries: DeliveryTable
    private let logger: Logger
    /// `rd_kafka_poll` and `rd_kafka_flush` block; they run here rather than on the cooperative pool.
    private let pollQueue: DispatchQueue
    private let probe: ConnectivityProbe

    /// How long `run()` waits for outstanding deliveries once shutdown begins.
    private let flushTimeoutMilliseconds: Int32 = 10_000

    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws {
        let deliveries = DeliveryTable()
        let properties = KafkaDefaults.merge(
            defaults: [
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("linger.ms", "5"),
                ("message.timeout.ms", "30000"),
                // A topic is created on purpose, with its partition count; some brokers (Tansu)
                // would otherwise create a missing one on first produce with their own default.
                ("allow.auto.create.topics", "false"),
            ],
            identity: [
                ("client.id", configuration.clientID),
                ("bootstrap.servers", configuration.bootstrapServers),
            ],
            overrides: configuration.properties
        )
        let handle = try RDKafkaHandle.make(
            kind: .producer,
            properties: properties,
            context: ClientContext(logger: logger, deliveries: deliveries),
            installDeliveryReports: true
        )
        self.handle = handle
        self.deliveries = deliveries
        self.logger = logger
        self.pollQueue = DispatchQueue(label: "kafka.producer.\(configuration.clientID).poll")
        self.probe = ConnectivityProbe(label: "kafka.producer.\(configuration.clientID).probe")
        KafkaDefaults.logCreation(
            handle, role: "producer", bootstrapServers: configuration.bootstrapServers, logger: logger)
    }

    /// Messages whose delivery report has not arrived yet.
    public var pendingDeliveryCount: Int { deliveries.pendingCount }

    /// Enqueues the message and suspends until librdkafka's delivery report for this message
    /// arrives; throws `KafkaError` if delivery failed (e.g. after `message.timeout.ms`) or the
    /// producer has shut down, `CancellationError` if the caller stopped waiting (the message may
    /// still be delivered). Safe to call concurrently from many tasks; concurrent calls are
    /// enqueued in no particular order (use `send(inOrder:)` where order matters).
    public func send(_ message: KafkaOutgoingMessage) async throws -> KafkaDeliveryReport {
        try await enqueue(message).report
    }

    /// Enqueues the messages in array order, so that with the idempotent producer each partition
    /// receives them in that order, then waits for every delivery report.
    public func send(inOrder messages: [KafkaOutgoingMessage]) async -> [Result<KafkaDeliveryReport, any Error>] {
        var promises: [Result<DeliveryPromise, any Error>] = []
        promises.reserveCapacity(messages.count)
        for message in messages {
            do {
                promises.append(.success(try await enqueue(message)))
            } catch {
                promises.append(.failure(error))
            }
        }
        var results: [Result<KafkaDeliveryReport, any Error>] = []
        results.reserveCapacity(messages.count)
        for promise in promises {
            switch promise {
            case .success(let promise):
                do { results.append(.success(try await promise.report)) } catch { results.append(.failure(error)) }
            case .failure(let error):
                results.append(.failure(error))
            }
        }
        return results
    }

    /// Hands the message to librdkafka, waiting while its local queue is full.
    private func enqueue(_ message: KafkaOutgoingMessage) async throws -> DeliveryPromise {
        var backoff = Duration.milliseconds(1)
        while true {
            let promise = DeliveryPromise()
            guard let id = deliveries.register(promise) else {
                throw KafkaError.shutDown("producer is shut down")
            }
            // Registered before producing: the report may arrive on the poll queue before
            // rd_kafka_produceva has even returned here.
            guard let error = produce(message, id: id) else { return promise }
            deliveries.unregister(id: id)
            guard error.code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue else { throw error }
            // The pause lets the poll loop drain delivery reports and librdkafka send batches.
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .milliseconds(100))
        }
    }

    /// Non-blocking (no RD_KAFKA_MSG_F_BLOCK): fails fast with QUEUE_FULL instead.
    private func produce(_ message: KafkaOutgoingMessage, id: UInt) -> KafkaError? {
        var headers: OpaquePointer?
        if !message.headers.isEmpty {
            let list = rd_kafka_headers_new(message.headers.count)!
            for header in message.headers {
                let err = withNullableBytes(header.value) { pointer, count in
                    rd_kafka_header_add(list, header.key, -1, pointer, count)
                }
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    rd_kafka_headers_destroy(list)
                    return KafkaError(err, message: "header \(header.key)")
                }
            }
            headers = list
        }

        let error: OpaquePointer? = message.topic.withCString { topic in
            withNullableBytes(message.value) { value, valueCount in
                withNullableBytes(message.key) { key, keyCount in
                    var fields: [rd_kafka_vu_t] = []
                    fields.reserveCapacity(6)

                    var field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_TOPIC
                    field.u.cstr = topic
                    fields.append(field)

                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    field.u.i = RD_KAFKA_MSG_F_COPY
                    fields.append(field)

                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_VALUE
                    field.u.mem.ptr = UnsafeMutableRawPointer(mutating: value)
                    field.u.mem.size = valueCount
                    fields.append(field)

                    if message.key != nil {
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_KEY
                        field.u.mem.ptr = UnsafeMutableRawPointer(mutating: key)
                        field.u.mem.size = keyCount
                        fields.append(field)
                    }

                    if let headers {
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_HEADERS
                        field.u.headers = headers
                        fields.append(field)
                    }

                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_OPAQUE
                    field.u.ptr = UnsafeMutableRawPointer(bitPattern: id)
                    fields.append(field)

                    return rd_kafka_produceva(handle.pointer, fields, fields.count)
                }
            }
        }
        guard let error else { return nil }
        // The headers list only becomes librdkafka's on success.
        if let headers { rd_kafka_headers_destroy(headers) }
        return KafkaError(consuming: error)
    }

    /// Serves delivery reports until graceful shutdown or cancellation, then flushes (at most
    /// 10 s) and fails whatever is still unacknowledged. `send()` throws from shutdown on.
    public func run() async throws {
        guard deliveries.start() else {
            throw KafkaError.wrongState("KafkaProducer.run() called twice or after shutdown")
        }
        await withTaskCancellationOrGracefulShutdownHandler {
            // One long-lived block rather than a hop per poll: serving delivery reports is this
            // producer's steady state. The loop re-checks the lifecycle every 100 ms.
            await pollQueue.perform { [handle, deliveries] in
                while deliveries.lifecycle == .running {
                    rd_kafka_poll(handle.pointer, 100)
                }
            }
        } onCancelOrGracefulShutdown: { [deliveries] in
            // Refuse new sends from now on; the poll loop sees the change and returns.
            deliveries.beginShutdown()
        }

        logger.debug("kafka producer shutting down: flushing", metadata: ["kafka.client": .string(handle.name)])
        // With no broker to deliver to, waiting the full flush time only delays the exit.
        let flushTimeout = await probe.isConnected(handle) ? flushTimeoutMilliseconds : 500
        let (flushResult, remaining) = await pollQueue.perform { [handle] in
            (rd_kafka_flush(handle.pointer, flushTimeout), rd_kafka_outq_len(handle.pointer))
        }
        if flushResult != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning(
                "kafka producer flush timed out",
                metadata: ["kafka.client": .string(handle.name), "kafka.outq.len": .stringConvertible(remaining)]
            )
        }
        let unresolved = deliveries.finish()
        for promise in unresolved {
            promise.fulfil(.failure(KafkaError.shutDown("producer shut down before the delivery report arrived")))
        }
        logger.debug(
            "kafka producer stopped",
            metadata: ["kafka.client": .string(handle.name), "kafka.unresolved": .stringConvertible(unresolved.count)]
        )
    }

    /// Whether a broker answered a metadata request within 1 s (answer cached for 1 s).
    public func isConnected() async -> Bool {
        if deliveries.lifecycle == .finished { return false }
        return await probe.isConnected(handle)
    }
}

/// librdkafka treats a null pointer as "no key/value" and a non-null one with length 0 as an
/// empty one; Swift hands out a nil base address for empty arrays, so keep the two apart here.
func withNullableBytes<R>(
    _ bytes: [UInt8]?,
    _ body: (UnsafeRawPointer?, Int) throws -> R
) rethrows -> R {
    guard let bytes else { return try body(nil, 0) }
    if bytes.isEmpty {
        var placeholder: UInt8 = 0
        return try withUnsafeBytes(of: &placeholder) { try body($0.baseAddress, 0) }
    }
    return try bytes.withUnsafeBytes { try body($0.baseAddress, $0.count) }
}
