import CinemaHTTP
import Hummingbird
import Logging
import Metrics
import Synchronization

/// Load shedding for one upstream: at most `maxConcurrent` requests in flight to it, at most `maxQueued` waiting for
/// a slot (each for at most `queueTimeout`), every other request refused at once. A stuck upstream thus costs the
/// gateway a bounded number of waiting requests, and since every upstream has its own limiter, the other routes do
/// not notice it.
///
/// It lives in the Gateway target: only the gateway forwards to upstreams it must protect itself from; the services
/// answer their own requests and have nothing to shed.
///
/// The rules are ``AdmissionQueue``'s, kept under a mutex; everything that follows from a decision (resuming a waiter,
/// metrics, logging) happens after the lock is let go. A waiter's continuation is resumed exactly once, by whoever
/// takes it out of the queue under the lock: the releaser handing over its slot, the queue timeout, or the
/// cancellation of the waiting task.
final class UpstreamLimiter: Sendable {
    enum Admission {
        /// The caller holds a slot until it releases the permit (or drops it).
        case admitted(UpstreamPermit)
        /// Refused: every slot and queue place was taken, or no slot came free within the queue timeout.
        case shed(ShedReason)
        /// The wait was given up because the caller's task was cancelled or its client went away; nothing is held.
        case abandoned
    }

    enum ShedReason: String, Sendable {
        case queueFull = "queue_full"
        case queueTimeout = "queue_timeout"
    }

    /// How a queued waiter is resumed.
    private enum WaitOutcome {
        case admitted
        case shed(ShedReason)
        case abandoned
    }

    let upstream: String
    let limits: UpstreamLimits
    private let state: Mutex<AdmissionQueue<CheckedContinuation<WaitOutcome, Never>>>
    private let logger: Logger
    private let inFlightGauge: Meter
    private let queuedGauge: Meter
    private let shedQueueFull: Counter
    private let shedQueueTimeout: Counter

    init(upstream: String, limits: UpstreamLimits, logger: Logger, metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        self.upstream = upstream
        self.limits = limits
        self.state = Mutex(AdmissionQueue(maxConcurrent: limits.maxConcurrent, maxQueued: limits.maxQueued))
        var logger = logger
        logger[metadataKey: "upstream.name"] = .string(upstream)
        self.logger = logger
        let dimensions = [("upstream", upstream)]
        // Gauges as meters moved by +1/-1: the adjustments are made after the lock is let go, and increments
        // commute where a `set` of a value read under the lock could land out of order and stick.
        self.inFlightGauge = Meter(label: "cinema_gateway_upstream_in_flight", dimensions: dimensions, factory: metricsFactory)
        self.queuedGauge = Meter(label: "cinema_gateway_upstream_queued", dimensions: dimensions, factory: metricsFactory)
        self.shedQueueFull = Counter(
            label: "cinema_gateway_shed_total", dimensions: dimensions + [("reason", ShedReason.queueFull.rawValue)],
            factory: metricsFactory)
        self.shedQueueTimeout = Counter(
            label: "cinema_gateway_shed_total", dimensions: dimensions + [("reason", ShedReason.queueTimeout.rawValue)],
            factory: metricsFactory)
    }

    /// What the limiter holds right now, for tests and diagnostics.
    var snapshot: (inFlight: Int, queued: Int, isShedding: Bool) {
        self.state.withLock { ($0.inFlight, $0.queued, $0.isShedding) }
    }

    /// Takes a slot, waits for one, or refuses. `clientInput`, asked only when the request must wait, lets it give up
    /// its place when its client goes away, which Hummingbird does not report as a cancellation of the handler.
    func acquire(clientInput: (() async -> ConnectionInputSignal?)? = nil) async -> Admission {
        switch self.state.withLock({ $0.arrive() }) {
        case .admitted:
            self.inFlightGauge.increment()
            return .admitted(UpstreamPermit(limiter: self))
        case .rejected(let startsShedding):
            self.recordShed(.queueFull, startsShedding: startsShedding)
            return .shed(.queueFull)
        case .mustWait:
            switch await self.waitForSlot(clientInput: await clientInput?()) {
            case .admitted: return .admitted(UpstreamPermit(limiter: self))
            case .shed(let reason): return .shed(reason)
            case .abandoned: return .abandoned
            }
        }
    }

    /// Where one wait stands, for the timer, the cancellation handler and the client watch, which run beside the
    /// waiting task and may come before the waiter is in the queue.
    private final class WaitTicket: Sendable {
        private enum State {
            case notQueuedYet
            case queued(id: UInt64)
            /// The queue timeout passed (`timedOut`), or the task was cancelled or its client went away, before the
            /// waiter was queued; it is taken out again as soon as it is.
            case endedBeforeQueued(timedOut: Bool)
        }

        private let state = Mutex(State.notQueuedYet)

        /// The id to remove now, or none when the waiter is not queued yet (it is then marked to be removed as soon as
        /// it is) or was ended already.
        func end(timedOut: Bool) -> UInt64? {
            self.state.withLock { state in
                switch state {
                case .queued(let id):
                    return id
                case .notQueuedYet:
                    state = .endedBeforeQueued(timedOut: timedOut)
                    return nil
                case .endedBeforeQueued:
                    return nil
                }
            }
        }

        /// Records the queue id; returns whether the wait timed out (`true`) or was abandoned (`false`) meanwhile.
        func markQueued(id: UInt64) -> Bool? {
            self.state.withLock { state in
                if case .endedBeforeQueued(let timedOut) = state { return timedOut }
                state = .queued(id: id)
                return nil
            }
        }
    }

    private func waitForSlot(clientInput: ConnectionInputSignal?) async -> WaitOutcome {
        let ticket = WaitTicket()
        let timeout = self.limits.queueTimeout
        // Runs at once when the client is gone already; the waiter is then taken out as soon as it is queued.
        let watchKey = clientInput?.onInputClosed {
            if let id = ticket.end(timedOut: false) { self.removeWaiter(id: id, timedOut: false) }
        }
        defer { if let watchKey { clientInput?.removeAction(watchKey) } }
        return await withTaskGroup(of: Void.self) { timer in
            timer.addTask {
                // Cancelled when the wait ends first; only a full sleep counts as a timeout.
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                if let id = ticket.end(timedOut: true) { self.removeWaiter(id: id, timedOut: true) }
            }
            let outcome = await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<WaitOutcome, Never>) in
                    let enqueueing = self.state.withLock { state in
                        state.enqueue(continuation, isCancelled: Task.isCancelled)
                    }
                    switch enqueueing {
                    case .waiting(let id):
                        self.queuedGauge.increment()
                        if let timedOut = ticket.markQueued(id: id) {
                            self.removeWaiter(id: id, timedOut: timedOut)
                        }
                    case .admitted:
                        self.inFlightGauge.increment()
                        continuation.resume(returning: .admitted)
                    case .rejected(let startsShedding):
                        self.recordShed(.queueFull, startsShedding: startsShedding)
                        continuation.resume(returning: .shed(.queueFull))
                    case .cancelled:
                        continuation.resume(returning: .abandoned)
                    }
                }
            } onCancel: {
                if let id = ticket.end(timedOut: false) { self.removeWaiter(id: id, timedOut: false) }
            }
            timer.cancelAll()
            return outcome
        }
    }

    /// Resumes a waiter that is still queued; one that was handed a slot or removed already is left alone.
    private func removeWaiter(id: UInt64, timedOut: Bool) {
        guard let removal = self.state.withLock({ $0.remove(id: id, timedOut: timedOut) }) else { return }
        self.queuedGauge.decrement()
        if timedOut {
            self.recordShed(.queueTimeout, startsShedding: removal.startsShedding)
            removal.waiter.resume(returning: .shed(.queueTimeout))
        } else {
            removal.waiter.resume(returning: .abandoned)
        }
    }

    /// Called once per admitted request, by its ``UpstreamPermit``.
    fileprivate func release() {
        switch self.state.withLock({ $0.release() }) {
        case .handOver(let waiter):
            // The slot changes hands: in flight stays as it is, one fewer waits.
            self.queuedGauge.decrement()
            waiter.resume(returning: .admitted)
        case .freed(let endedShedding):
            self.inFlightGauge.decrement()
            if let endedShedding {
                self.logger.warning(
                    "Upstream no longer overloaded, gateway stopped shedding requests",
                    metadata: ["gateway.shed.count": .stringConvertible(endedShedding)]
                )
            }
        }
    }

    private func recordShed(_ reason: ShedReason, startsShedding: Bool) {
        switch reason {
        case .queueFull: self.shedQueueFull.increment()
        case .queueTimeout: self.shedQueueTimeout.increment()
        }
        // One warning when an episode starts and one when it ends (with the count), not one per refused request.
        guard startsShedding else { return }
        self.logger.warning(
            "Upstream overloaded, gateway shedding requests",
            metadata: [
                "gateway.shed.count": "1",
                "gateway.shed.reason": .string(reason.rawValue),
                "gateway.shed.max_concurrent": .stringConvertible(self.limits.maxConcurrent),
                "gateway.shed.max_queued": .stringConvertible(self.limits.maxQueued),
            ]
        )
    }
}

/// A slot of one upstream, held from admission until the upstream's answer has been passed on (or has failed).
/// Released exactly once: explicitly, or when the last reference goes away, so that a response dropped without its
/// body ever being written cannot leak the slot.
final class UpstreamPermit: Sendable {
    private let limiter: UpstreamLimiter
    private let isReleased = Atomic(false)

    fileprivate init(limiter: UpstreamLimiter) {
        self.limiter = limiter
    }

    func release() {
        guard !self.isReleased.exchange(true, ordering: .acquiringAndReleasing) else { return }
        self.limiter.release()
    }

    deinit {
        self.release()
    }
}

/// One limiter per upstream name of the routing table; routes to the same upstream (`/movies`, `/reviews`, `/check`)
/// share it, since they share the upstream's capacity.
struct UpstreamLimiters: Sendable {
    private let byUpstream: [String: UpstreamLimiter]

    init(configuration: GatewayConfiguration, logger: Logger, metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        var byUpstream: [String: UpstreamLimiter] = [:]
        for route in configuration.routes where byUpstream[route.upstreamName] == nil {
            byUpstream[route.upstreamName] = UpstreamLimiter(
                upstream: route.upstreamName,
                limits: configuration.shedding.limits(for: route.upstreamName),
                logger: logger,
                metricsFactory: metricsFactory
            )
        }
        self.byUpstream = byUpstream
    }

    subscript(upstream: String) -> UpstreamLimiter? {
        self.byUpstream[upstream]
    }
}

extension APIError {
    /// The answer to a shed request: 503, `Retry-After`, and the upstream named.
    static func overloaded(
        upstream: String, reason: UpstreamLimiter.ShedReason, limits: UpstreamLimits, retryAfterSeconds: Int
    )
        -> APIError
    {
        let detail =
            switch reason {
            case .queueFull: ""
            case .queueTimeout: " (no slot came free within \(UpstreamFailure.describe(limits.queueTimeout)))"
            }
        return APIError(
            .serviceUnavailable,
            "\(upstream) is overloaded\(detail); retry in \(retryAfterSeconds) s",
            headers: [.retryAfter: String(retryAfterSeconds)]
        )
    }
}

extension ResponseBody {
    /// This body, followed by releasing `permit` once it is written or has failed.
    func releasing(_ permit: UpstreamPermit?) -> ResponseBody {
        guard let permit else { return self }
        let body = self
        return ResponseBody(contentLength: self.contentLength) { writer in
            defer { permit.release() }
            try await body.write(writer)
        }
    }
}
