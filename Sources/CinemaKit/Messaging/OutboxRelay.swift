import CinemaTracing
import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// Publishes committed outbox rows to the broker in commit order and deletes them only after the
/// broker acknowledged them. A crash or a broker outage between commit and publish therefore
/// delays events but never loses them; a crash after publish and before the delete repeats them,
/// which the consumers' inbox absorbs.
public final class OutboxRelay: Service {
    private let store: any Store
    private let publisher: any EventPublisher
    private let topic: String
    private let logger: Logger
    private let batchSize: Int
    private let idlePollInterval: Duration
    /// "There may be something to publish": from commits, and from a timer while idle. Buffering
    /// only the newest keeps a burst of commits from queueing up rounds of empty reads.
    private let signals: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation
    private let watermark = PublicationWatermark()
    /// When the relay last published something or found nothing to publish.
    private let lastProgress = Mutex(ContinuousClock.now)
    private let published = Counter(label: "cinema_outbox_published_total")
    private let failures = Counter(label: "cinema_outbox_publish_failures_total")
    private let parked = Counter(label: "cinema_outbox_parked_total")

    public init(
        store: any Store,
        publisher: any EventPublisher,
        topic: String,
        logger: Logger,
        batchSize: Int = 500,
        idlePollInterval: Duration = .seconds(1)
    ) {
        self.store = store
        self.publisher = publisher
        self.topic = topic
        self.logger = logger
        self.batchSize = batchSize
        self.idlePollInterval = idlePollInterval
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Called after a transaction that recorded events has committed.
    public func notifyPending() {
        signal.yield()
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            // Also look without being told: rows left by an earlier run, or a notification lost
            // to a crash between commit and notify, go out within one interval.
            group.addTask { [signal, idlePollInterval] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: idlePollInterval)
                    signal.yield()
                }
            }
            group.addTask { await self.sampleBacklog() }
            await publishUntilShutdown()
            group.cancelAll()
        }
        // Hand what is already committed to the producer before it flushes and stops, unless the
        // broker is away: then the rows simply wait for the next start instead of the shutdown
        // waiting for deliveries that cannot happen.
        guard await publisher.isConnected() else {
            logger.notice("broker unreachable at shutdown; unpublished events stay in the outbox")
            return
        }
        do {
            while try await publishNextBatch() > 0 {}
        } catch {
            logger.warning("outbox not fully drained at shutdown; the rest goes out on next start", metadata: ["error": "\(error)"])
        }
    }

    /// One signal stands for everything committed before it, so each one drains the outbox; a
    /// failure backs off (a burst of commits during a broker outage does not hurry the retries).
    private func publishUntilShutdown() async {
        var backoff = Backoff()
        for await _ in signals.cancelOnGracefulShutdown() {
            while !Task.isShuttingDownGracefully, !Task.isCancelled {
                do {
                    let count = try await publishNextBatchWithinShutdownGrace()
                    backoff.reset()
                    if count == 0 { break }
                } catch is CancellationError where Task.isShuttingDownGracefully || Task.isCancelled {
                    return
                } catch {
                    failures.increment()
                    let delay = backoff.next()
                    logger.warning(
                        "outbox publish failed; retrying",
                        metadata: ["error": "\(error)", "retry.in_ms": "\(delay.milliseconds)"]
                    )
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                }
            }
        }
    }

    private let backlogRows = Gauge(label: "cinema_outbox_backlog")
    private let oldestAge = Gauge(label: "cinema_outbox_oldest_age_seconds")

    /// Every few seconds, how many rows wait in the outbox and how long the oldest has waited: a broker outage or a
    /// relay that cannot keep up shows as both rising. On a shared database every replica reports the same rows.
    private func sampleBacklog(every interval: Duration = .seconds(5)) async {
        while !Task.isCancelled {
            do {
                let backlog = try await store.read { database in try await OutboxRepository.backlog(on: database) }
                backlogRows.record(backlog.rows)
                let nowMilliseconds = Int64(Date().timeIntervalSince1970 * 1000)
                oldestAge.record(backlog.oldestRecordedAt.map { Double(max(0, nowMilliseconds - $0)) / 1000 } ?? 0)
            } catch {
                logger.debug("outbox backlog not sampled", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// False when events have been waiting in the outbox without any being published for longer
    /// than `stallLimit`: the broker is away, or the producer cannot deliver (for example a broker
    /// that lost its state refusing the producer's id). Behind `/ready` as the `outbox` check.
    public func isFlowing(stallLimit: Duration = .seconds(60)) -> Bool {
        ContinuousClock.now - lastProgress.withLock { $0 } < stallLimit
    }

    /// Waits until every outbox row up to `seq` has been acknowledged by the broker (or parked);
    /// false on timeout. The rows may go out through another replica's relay: then only the
    /// database knows, so it is asked between short waits for this relay's own progress.
    /// No wait at all while no broker answers: the caller would only be slowed down by an
    /// outage its write is safe from (and a payment call slowed so would open the reservation
    /// side's circuit breaker, refusing writes the outbox could take).
    public func waitUntilPublished(through seq: Int64, timeout: Duration) async -> Bool {
        guard await publisher.isConnected() else { return false }
        let deadline = ContinuousClock.now + timeout
        while true {
            let slice = min(.milliseconds(50), deadline - .now)
            if await watermark.wait(for: seq, timeout: max(.zero, slice)) { return true }
            let pending = try? await store.read { database in try await OutboxRepository.hasPending(through: seq, on: database) }
            if pending == false { return true }
            if ContinuousClock.now >= deadline { return false }
        }
    }

    /// How long a shutdown waits for the deliveries of a batch already handed to the producer.
    static let shutdownGrace: Duration = .seconds(3)

    /// A batch in flight when shutdown begins gets `shutdownGrace` to be acknowledged; then the
    /// wait is cancelled. Deliveries cannot be recalled: what was not seen acknowledged stays in
    /// the outbox and goes out again on the next start (the readers' inbox absorbs a repeat).
    private func publishNextBatchWithinShutdownGrace() async throws -> Int {
        let batch = Task { try await self.publishNextBatch() }
        return try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await batch.value
            } onCancel: {
                batch.cancel()
            }
        } onGracefulShutdown: {
            Task {
                // No grace when no broker answers: the deliveries cannot happen anyway.
                if await self.publisher.isConnected() {
                    try? await Task.sleep(for: Self.shutdownGrace)
                }
                batch.cancel()
            }
        }
    }

    /// Publishes up to one batch; returns how many rows it published. With several replicas on
    /// one database only the leading one publishes (one movie's events must leave in commit
    /// order, which two relays racing over the same rows would not keep); the others stand by.
    @discardableResult
    public func publishNextBatch() async throws -> Int {
        guard let published = try await store.whileLeading("outbox-relay", { try await self.publishBatchAsLeader() }) else {
            lastProgress.withLock { $0 = .now }
            return 0
        }
        return published
    }

    private func publishBatchAsLeader() async throws -> Int {
        let batchSize = self.batchSize
        let batch = try await store.read { database in
            try await OutboxRepository.pending(limit: batchSize, on: database)
        }
        guard !batch.isEmpty else {
            lastProgress.withLock { $0 = .now }
            return 0
        }
        // Enqueued in commit order, awaited together: librdkafka batches them, and the idempotent
        // producer keeps each partition's order, every key (movie) mapping to one partition.
        let results = zip(batch, await publisher.publish(batch, topic: topic))
        let acknowledged = results.filter { (try? $0.1.get()) != nil }.map(\.0.seq)
        var rejected: [(message: OutboxMessage, error: any Error)] = []
        var failures: [(seq: Int64, error: any Error)] = []
        for (message, result) in results {
            guard case .failure(let error) = result else { continue }
            if publisher.isRejectedForGood(error) {
                rejected.append((message, error))
            } else {
                failures.append((message.seq, error))
            }
        }
        let firstFailed = failures.first?.seq
        if !acknowledged.isEmpty || !rejected.isEmpty {
            let toPark = rejected.map { (message: $0.message, reason: "\($0.error)") }
            try await store.transaction { database in
                try await OutboxRepository.markPublished(acknowledged, on: database)
                for (message, reason) in toPark {
                    try await OutboxRepository.park(message, error: reason, on: database)
                }
            }
            // Logged in the trace of the request or event that recorded each row.
            for (message, error) in rejected {
                await TraceLogging.withTraceParent(message.traceParent.flatMap(TraceParent.init(header:))) {
                    logger.error(
                        "event refused by the broker for good; parked in parked_outbox",
                        metadata: ["message.id": "\(message.messageId)", "event.type": "\(message.eventType)", "error": "\(error)"]
                    )
                }
            }
            let acknowledgedSeqs = Set(acknowledged)
            let acknowledgedMessages = batch.filter { acknowledgedSeqs.contains($0.seq) }
            for message in acknowledgedMessages {
                await TraceLogging.withTraceParent(message.traceParent.flatMap(TraceParent.init(header:))) {
                    logger.info("event published", metadata: ["message.id": "\(message.messageId)", "event.type": "\(message.eventType)"])
                }
            }
            published.increment(by: acknowledged.count)
            // Types come from this service's own outbox rows, a fixed set.
            for (eventType, count) in Dictionary(grouping: acknowledgedMessages, by: \.eventType) {
                Counter(label: "cinema_events_produced_total", dimensions: [("event_type", eventType)]).increment(by: count.count)
            }
            parked.increment(by: rejected.count)
            lastProgress.withLock { $0 = .now }
        }
        // Everything before the first failure is out (or parked); the failed one and later go again.
        if let batchEnd = batch.last?.seq {
            watermark.advance(to: firstFailed.map { $0 - 1 } ?? batchEnd)
        }
        if let firstFailure = failures.first {
            throw firstFailure.error
        }
        return acknowledged.count
    }
}
