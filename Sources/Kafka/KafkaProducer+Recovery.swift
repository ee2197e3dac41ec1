import Logging

// The poll loop, and what it does when the handle has become unusable: build a new handle from the
// same configuration, switch `send()` over to it, fail what was in flight on the old one with a
// retriable error, and destroy the old one. Everything here runs on `pollQueue`, the only place the
// producer's blocking librdkafka calls run.
//
// When a handle counts as unusable is decided by `ProducerState` (`ProducerHandleHealth`): a fatal
// error from librdkafka, a run of deliveries failing with producer-id or sequence errors, or the
// epoch churn of an idempotent producer whose id the broker has forgotten (a restarted Tansu).
//
// Failing the in-flight messages is safe for at-least-once callers: whatever was not acknowledged
// may or may not have been written, and is sent again (the outbox relay does so).

extension KafkaProducer {
    /// How long a retired handle's purged delivery reports, and any last user of the handle, are
    /// waited for before it is let go.
    private static let retirementGrace: Duration = .seconds(5)
    /// When creating the replacement fails, the next attempt comes this much later.
    private static let replacementRetryDelay: Duration = .seconds(1)

    /// Runs until shutdown begins. Blocks: call it on `pollQueue`.
    func servePollLoop() {
        while true {
            switch state.nextPollStep(at: .now) {
            case .poll(let handle):
                handle.poll(timeout: pollInterval)
            case .replace(let generation, let reason):
                replaceHandle(generation: generation, reason: reason)
            case .stop:
                return
            }
        }
    }

    private func replaceHandle(generation: Int, reason: String) {
        let replacement: RDKafkaHandle
        do {
            replacement = try makeHandle(generation: generation + 1)
        } catch {
            logger.error(
                "kafka producer could not replace its unusable librdkafka handle; trying again",
                metadata: ["kafka.error": .string(error.description), "kafka.reason": .string(reason)]
            )
            state.replacementFailed(retryAt: .now + Self.replacementRetryDelay, reason: reason)
            return
        }
        // From here on `send()` uses the replacement. The retired handle is held only here (and
        // briefly by a send or a connectivity probe that picked it up just before).
        guard var retired = state.install(replacement) else { return }
        // Exact: no message can be registered against the old generation any more.
        let inFlight = state.pendingCount(ofGeneration: generation)
        let retiredName = retired.name
        retire(&retired, servingMeanwhile: replacement)
        // Whatever the purge did not report on (e.g. produced by a send that raced the switch).
        let stranded = state.takePending(ofGeneration: generation)
        let error = KafkaError.handleUnusable("the librdkafka handle it went out on was replaced before it was acknowledged")
        for waiter in stranded {
            waiter.fulfil(.failure(error))
        }
        logger.warning(
            "kafka producer replaced its unusable librdkafka handle: \(reason); \(inFlight) unacknowledged deliveries failed with a retriable error",
            metadata: [
                "kafka.client": .string(replacement.name), "kafka.client.replaced": .string(retiredName),
                "kafka.recoveries": .stringConvertible(generation + 1), "kafka.failed": .stringConvertible(inFlight),
            ]
        )
        // `retired` ends here: if this was the last reference, rd_kafka_destroy runs now, on this queue.
    }

    /// Purges the retired handle and serves the resulting delivery reports, which fail its messages
    /// with `_PURGE_QUEUE` / `_PURGE_INFLIGHT` (retriable); then waits until no one else holds it,
    /// polling the new handle meanwhile so that its reports are not held up.
    private func retire(_ retired: inout RDKafkaHandle, servingMeanwhile replacement: RDKafkaHandle) {
        let deadline = ContinuousClock.now + Self.retirementGrace
        retired.purgeAll()
        while retired.outqLength > 0, ContinuousClock.now < deadline {
            retired.poll(timeout: .milliseconds(10))
        }
        while !isKnownUniquelyReferenced(&retired), ContinuousClock.now < deadline {
            replacement.poll(timeout: .milliseconds(10))
        }
        if !isKnownUniquelyReferenced(&retired) {
            // Whoever still holds it destroys it when done, on their thread; nothing is lost.
            logger.debug("kafka producer: a replaced librdkafka handle is still in use; destroyed by its last user")
        }
        // A send that held it may have produced into it after the first purge.
        retired.purgeAll()
        retired.poll(timeout: .zero)
    }
}

extension KafkaError {
    /// A message failed because the producer's librdkafka handle became unusable and is, or was,
    /// replaced: it may or may not have been written, and sending it again goes out on the new
    /// handle.
    static func handleUnusable(_ what: String) -> KafkaError {
        KafkaError(code: .purgeInflight, message: what, isRetriable: true)
    }
}
