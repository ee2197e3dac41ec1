/// Decides from what one librdkafka producer handle reports whether it has become unusable, so
/// that the producer replaces it. librdkafka says so itself with a fatal error; two other signs
/// it never turns into one:
///
/// - A run of deliveries failing with producer-identity errors (unknown producer id, sequence or
///   epoch errors) with none acknowledged in between.
/// - The idempotent producer bumping its epoch again and again without anything acknowledged.
///   That is what a restarted in-memory broker (Tansu) causes: it has forgotten the producer id,
///   answers every ProduceRequest with UNKNOWN_PRODUCER_ID, and librdkafka 2.16 bumps the epoch
///   locally and retries, for ever (the broker knows no epoch of an id it never assigned). The
///   deliveries only fail with `_MSG_TIMED_OUT` once `message.timeout.ms` has passed; the only
///   early sign is the epoch in librdkafka's statistics. A new handle asks for a new id and works.
///
/// - Every broker unreachable, once the handle had a producer id. A broker that comes back having
///   lost its state (a restarted in-memory Tansu) hands out producer ids from the start again,
///   so this handle's old id may now be another producer's: Tansu then takes its batches for
///   that producer's duplicates, answers success, and keeps nothing (seen: an acknowledged event
///   missing from the topic). A new handle asks the returning broker for a fresh id. Against a
///   real Kafka, which never reuses an id, the cost is one InitProducerId after an outage.
///
/// A pure state machine: the caller supplies the time and acts on the verdict.
package struct ProducerHandleHealth: Sendable {
    package struct Policy: Sendable {
        /// Failed deliveries in a row that make a run...
        package var failureRunLength = 10
        /// ...if they are spread over at least this long: one batch failing at once (which
        /// librdkafka recovers from on its own, e.g. after INVALID_PRODUCER_EPOCH) is not a run.
        package var failureRunMinimumSpan: Duration = .seconds(1)
        /// Epoch bumps without any acknowledgement. A healthy producer bumps its epoch rarely (a
        /// timed-out batch, a one-off unknown id); a stuck one several times a second.
        package var epochBumpLimit = 10

        package init() {}
    }

    package let policy: Policy
    private var failureRun: (count: Int, since: ContinuousClock.Instant)?
    /// The producer epoch when a delivery was last known to be acknowledged (or first seen).
    private var epochBaseline: Int?
    private var acknowledgedSinceLastStatistics = false

    package init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// Whether this handle has been given a producer id (a non-negative epoch in its statistics)
    /// or had a delivery acknowledged: a session a broker could remember.
    private var hasSession = false

    package mutating func deliveryAcknowledged() {
        hasSession = true
        failureRun = nil
        acknowledgedSinceLastStatistics = true
    }

    /// Returns why the handle is unusable, or nil.
    package mutating func deliveryFailed(_ code: KafkaError.Code, at now: ContinuousClock.Instant) -> String? {
        // Anything else (timeouts, an absent broker, a full queue) a new handle would not fix.
        guard code.isProducerIdentityError else { return nil }
        let run = (count: (failureRun?.count ?? 0) + 1, since: failureRun?.since ?? now)
        failureRun = run
        guard run.count >= policy.failureRunLength, now - run.since >= policy.failureRunMinimumSpan else { return nil }
        return "\(run.count) deliveries in a row failed with producer id or sequence errors (the last: \(code.nameAndValue))"
    }

    /// librdkafka reports every broker down. Returns why the handle is to be replaced (when it had
    /// a session), or nil: a handle that never reached a broker has nothing to forget, so a new
    /// one made during the outage is kept.
    package mutating func allBrokersDown() -> String? {
        guard hasSession else { return nil }
        return "every broker became unreachable: a new producer session, so that a broker that lost its state "
            + "cannot mistake this producer for another"
    }

    /// Feeds one statistics report's producer epoch (-1 without idempotence). Returns why the
    /// handle is unusable, or nil.
    package mutating func statisticsReported(producerEpoch epoch: Int) -> String? {
        defer { acknowledgedSinceLastStatistics = false }
        guard epoch >= 0 else { return nil }
        hasSession = true
        guard let baseline = epochBaseline, !acknowledgedSinceLastStatistics else {
            epochBaseline = epoch
            return nil
        }
        let bumps = epoch - baseline
        guard bumps >= policy.epochBumpLimit else { return nil }
        return "the idempotent producer bumped its epoch \(bumps) times (\(baseline) to \(epoch)) without a delivery "
            + "acknowledged: the broker no longer knows its producer id"
    }
}

extension KafkaError.Code {
    /// Errors saying the broker and this producer disagree about the producer's id, epoch or
    /// sequence numbers: state that only a new handle (a new producer id) resets for certain.
    package var isProducerIdentityError: Bool {
        switch self {
        case .unknownProducerId, .outOfOrderSequenceNumber, .invalidProducerIdMapping, .invalidProducerEpoch, .fatal:
            true
        default:
            false
        }
    }
}
