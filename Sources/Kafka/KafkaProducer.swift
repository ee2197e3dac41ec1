import Dispatch
public import Logging
public import ServiceLifecycle

/// A producer (idempotent, acks=all unless configured otherwise) whose `send()` resolves with the
/// broker's acknowledgement. Delivery reports are only served while `run()` is running, so run it
/// in the ServiceGroup.
///
/// Heals itself: when its librdkafka handle becomes unusable (a fatal error, or a broker that has
/// forgotten the idempotent producer's id), it replaces the handle with a new one built from the
/// same configuration and fails what was in flight with a retriable error (KafkaProducer+Recovery.swift).
public final class KafkaProducer: Service, Sendable {
    let state: ProducerState
    let logger: Logger
    /// librdkafka properties of every handle this producer creates, the first and any replacement.
    let properties: [LibrdkafkaProperty]
    let repeatedLogWindow: Duration
    /// `rd_kafka_poll`, `rd_kafka_flush`, `rd_kafka_purge` and the destruction of a replaced handle
    /// block; they run here rather than on the cooperative pool.
    let pollQueue: DispatchQueue
    private let probe: ConnectivityProbe
    /// How long one poll may block; also how long the poll loop takes to notice shutdown.
    let pollInterval: Duration = .milliseconds(100)
    private let flushTimeout: Duration
    private let flushTimeoutWhileDisconnected: Duration

    /// Throws `KafkaError` with code `.invalidArgument` for a property librdkafka does not know or
    /// accept, or for contradicting ones (e.g. `isIdempotent` without `acks` `.all`).
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        let properties = configuration.librdkafkaProperties()
        // Statistics feed the check for a stuck idempotent producer (ProducerHandleHealth); set
        // first so that the configuration's own properties can still override the interval.
        let isIdempotent = properties.last { $0.name == "enable.idempotence" }?.value == "true"
        self.properties = (isIdempotent ? [("statistics.interval.ms", "1000")] : []) + properties
        self.state = ProducerState()
        self.logger = logger
        self.repeatedLogWindow = configuration.repeatedLogWindow
        self.pollQueue = DispatchQueue(label: "kafka.producer.\(configuration.clientID).poll")
        self.probe = ConnectivityProbe(label: "kafka.producer.\(configuration.clientID).probe")
        self.flushTimeout = configuration.flushTimeout
        self.flushTimeoutWhileDisconnected = configuration.flushTimeoutWhileDisconnected
        let handle = try makeHandle(generation: 0)
        _ = state.install(handle)
        logger.logCreation(of: handle, role: "producer", bootstrapServers: configuration.bootstrapServers)
    }

    func makeHandle(generation: Int) throws(KafkaError) -> RDKafkaHandle {
        try RDKafkaHandle.make(
            kind: .producer,
            properties: properties,
            context: ClientContext(
                logger: logger,
                repeatedLineWindow: repeatedLogWindow,
                producer: ProducerHooks(state: state, generation: generation)
            )
        )
    }

    /// Messages whose delivery report has not arrived yet.
    public var pendingDeliveryCount: Int { state.pendingCount }

    /// How many times this producer has replaced its librdkafka handle because it had become
    /// unusable (0 while it still uses the one it was created with). For tests and metrics.
    public var recoveries: Int { state.generation }

    /// Enqueues the message and suspends until librdkafka's delivery report for this message
    /// arrives; throws `KafkaError` if delivery failed (e.g. after `message.timeout.ms`, or
    /// retriable because the handle it went out on was replaced) or the producer has shut down,
    /// `CancellationError` if the caller stopped waiting (the message may still be delivered).
    /// Safe to call concurrently from many tasks; concurrent calls are enqueued in no particular
    /// order (use `send(inOrder:)` where order matters).
    public func send(_ message: KafkaOutgoingMessage) async throws -> KafkaDeliveryReport {
        let promise = DeliveryPromise()
        _ = try await enqueue(message, for: .message(promise), pinnedTo: nil)
        return try await promise.report
    }

    /// Enqueues the messages in array order, so that with the idempotent producer each partition
    /// receives them in that order, then waits for every delivery report. All of them go out on
    /// one librdkafka handle: if the producer replaces its handle meanwhile, the rest of the batch
    /// fails (retriable) instead of overtaking the messages that were in flight on the old one.
    public func send(inOrder messages: [KafkaOutgoingMessage]) async -> [Result<KafkaDeliveryReport, any Error>] {
        let batch = BatchDelivery(count: messages.count)
        var generation: Int?
        for (index, message) in messages.enumerated() {
            do {
                generation = try await enqueue(message, for: .batch(batch, index: index), pinnedTo: generation)
            } catch {
                batch.fulfil(index, .failure(error))
            }
        }
        return await batch.results
    }

    /// Hands the message to librdkafka, waiting while its local queue is full or while an
    /// unusable handle is being replaced; returns the handle generation it went out on.
    /// `pinnedTo`: the handle generation it must go out on.
    private func enqueue(_ message: KafkaOutgoingMessage, for waiter: DeliveryWaiter, pinnedTo pinned: Int?) async throws -> Int {
        var backoff = Duration.milliseconds(1)
        while true {
            // Registered before producing: the report may arrive on the poll queue before
            // rd_kafka_produceva has even returned here.
            switch state.register(waiter, pinnedTo: pinned) {
            case .shutDown:
                throw KafkaError.shutDown("producer is shut down")
            case .handleReplaced:
                throw KafkaError.handleUnusable("not enqueued: the rest of its batch went out on a librdkafka handle since replaced")
            case .stillUnusable:
                throw KafkaError.handleUnusable("not enqueued: the librdkafka handle is unusable and has not been replaced yet")
            case .awaitingReplacement:
                break
            case .registered(let id, let handle, let generation):
                guard let error = handle.produce(message, opaqueID: id) else { return generation }
                state.unregister(id: id)
                if error.isFatal {
                    state.reportUnusable(
                        generation: generation, reason: "librdkafka refused a message as fatal: \(error.message)", at: .now)
                    if pinned != nil {
                        throw KafkaError.handleUnusable("not enqueued: the librdkafka handle of its batch became unusable")
                    }
                } else if error.code != .queueFull {
                    throw error
                }
            }
            // The pause lets the poll loop drain delivery reports (or replace the handle) and
            // librdkafka send batches.
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .milliseconds(100))
        }
    }

    /// Serves delivery reports (and replaces the handle when it becomes unusable) until graceful
    /// shutdown or cancellation, then flushes (at most `flushTimeout`, or
    /// `flushTimeoutWhileDisconnected` if no broker answers) and fails whatever is still
    /// unacknowledged. `send()` throws from shutdown on.
    public func run() async throws {
        guard state.start() else {
            throw KafkaError.wrongState("KafkaProducer.run() called twice or after shutdown")
        }
        await withTaskCancellationOrGracefulShutdownHandler {
            // One long-lived block rather than a hop per poll: serving delivery reports is this
            // producer's steady state. The loop re-checks the lifecycle every `pollInterval`.
            await pollQueue.perform { [self] in servePollLoop() }
        } onCancelOrGracefulShutdown: { [state] in
            // Refuse new sends from now on; the poll loop sees the change and returns.
            state.beginShutdown()
        }

        if let handle = state.currentHandle {
            await flush(handle)
        }
        let unresolved = state.finish()
        for waiter in unresolved {
            waiter.fulfil(.failure(KafkaError.shutDown("producer shut down before the delivery report arrived")))
        }
        logger.debug(
            "kafka producer stopped",
            metadata: [
                "kafka.client": .string(state.currentHandle?.name ?? ""), "kafka.unresolved": .stringConvertible(unresolved.count),
            ]
        )
    }

    private func flush(_ handle: RDKafkaHandle) async {
        logger.debug("kafka producer shutting down: flushing", metadata: ["kafka.client": .string(handle.name)])
        // With no broker to deliver to, waiting the full flush time only delays the exit.
        let timeout = await probe.isConnected(handle) ? flushTimeout : flushTimeoutWhileDisconnected
        let (flushError, remaining) = await pollQueue.perform { [handle] in
            handle.flush(timeout: timeout)
        }
        if let flushError {
            logger.warning(
                "kafka producer flush timed out",
                metadata: [
                    "kafka.client": .string(handle.name), "kafka.outq.len": .stringConvertible(remaining),
                    "kafka.error": .string(flushError.description),
                ]
            )
        }
    }

    /// Whether a broker answered a metadata request within 1 s (answer cached for 1 s).
    public func isConnected() async -> Bool {
        guard state.lifecycle != .finished, let handle = state.currentHandle else { return false }
        return await probe.isConnected(handle)
    }
}
