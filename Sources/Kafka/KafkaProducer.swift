import Dispatch
public import Logging
public import ServiceLifecycle

/// A producer (idempotent, acks=all unless configured otherwise) whose `send()` resolves with the
/// broker's acknowledgement. Delivery reports are only served while `run()` is running, so run it
/// in the ServiceGroup.
public final class KafkaProducer: Service, Sendable {
    private let handle: RDKafkaHandle
    private let deliveries: DeliveryTable
    private let logger: Logger
    /// `rd_kafka_poll` and `rd_kafka_flush` block; they run here rather than on the cooperative pool.
    private let pollQueue: DispatchQueue
    private let probe: ConnectivityProbe
    /// How long one poll may block; also how long the poll loop takes to notice shutdown.
    private let pollInterval: Duration = .milliseconds(100)
    private let flushTimeout: Duration
    private let flushTimeoutWhileDisconnected: Duration

    /// Throws `KafkaError` with code `.invalidArgument` for a property librdkafka does not know or
    /// accept, or for contradicting ones (e.g. `isIdempotent` without `acks` `.all`).
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        let deliveries = DeliveryTable()
        let handle = try RDKafkaHandle.make(
            kind: .producer,
            properties: configuration.librdkafkaProperties(),
            context: ClientContext(logger: logger, repeatedLineWindow: configuration.repeatedLogWindow, deliveries: deliveries),
            installDeliveryReports: true
        )
        self.handle = handle
        self.deliveries = deliveries
        self.logger = logger
        self.pollQueue = DispatchQueue(label: "kafka.producer.\(configuration.clientID).poll")
        self.probe = ConnectivityProbe(label: "kafka.producer.\(configuration.clientID).probe")
        self.flushTimeout = configuration.flushTimeout
        self.flushTimeoutWhileDisconnected = configuration.flushTimeoutWhileDisconnected
        logger.logCreation(of: handle, role: "producer", bootstrapServers: configuration.bootstrapServers)
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
            guard let error = handle.produce(message, opaqueID: id) else { return promise }
            deliveries.unregister(id: id)
            guard error.code == .queueFull else { throw error }
            // The pause lets the poll loop drain delivery reports and librdkafka send batches.
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .milliseconds(100))
        }
    }

    /// Serves delivery reports until graceful shutdown or cancellation, then flushes (at most
    /// `flushTimeout`, or `flushTimeoutWhileDisconnected` if no broker answers) and fails whatever
    /// is still unacknowledged. `send()` throws from shutdown on.
    public func run() async throws {
        guard deliveries.start() else {
            throw KafkaError.wrongState("KafkaProducer.run() called twice or after shutdown")
        }
        await withTaskCancellationOrGracefulShutdownHandler {
            // One long-lived block rather than a hop per poll: serving delivery reports is this
            // producer's steady state. The loop re-checks the lifecycle every `pollInterval`.
            await pollQueue.perform { [handle, deliveries, pollInterval] in
                while deliveries.lifecycle == .running {
                    handle.poll(timeout: pollInterval)
                }
            }
        } onCancelOrGracefulShutdown: { [deliveries] in
            // Refuse new sends from now on; the poll loop sees the change and returns.
            deliveries.beginShutdown()
        }

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
