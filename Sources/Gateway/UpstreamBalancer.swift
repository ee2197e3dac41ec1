import Hummingbird
import Logging
import Metrics
import Synchronization

/// Spreads one upstream's requests over its instances (the URLs of `<UPSTREAM>_URL`) and routes around an instance
/// that refuses connections. The rules are ``BalancerState``'s, kept under a mutex; logging and metrics follow from
/// what each call returns, after the lock is let go.
///
/// Load shedding stays per upstream (``UpstreamLimiter``), in front of the balancer: the limit is the service's
/// capacity as a whole, whichever replica a request ends up on, and a request retried on another instance keeps the
/// slot it was admitted with instead of queueing again.
final class UpstreamBalancer: Sendable {
    let upstream: String
    /// Base URLs, in configuration order; a choice's index points into this.
    let instances: [String]
    let retryInterval: Duration
    private let state: Mutex<BalancerState>
    private let now: @Sendable () -> ContinuousClock.Instant
    private let logger: Logger
    /// One per instance: 1 up, 0 down.
    private let upGauges: [Meter]
    private let retries: Counter

    init(
        upstream: String,
        instances: [String],
        retryInterval: Duration,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.upstream = upstream
        self.instances = instances
        self.retryInterval = retryInterval
        self.state = Mutex(BalancerState(instanceCount: instances.count, retryInterval: retryInterval))
        self.now = now
        var logger = logger
        logger[metadataKey: "upstream.name"] = .string(upstream)
        self.logger = logger
        // A meter moved by +1/-1 rather than a gauge set to 0 or 1: the moves are made after the lock is let go, and
        // down and up alternate under the lock, so increments commute where two `set`s could land out of order and
        // leave the wrong value standing.
        self.upGauges = instances.map { instance in
            let gauge = Meter(
                label: "cinema_gateway_upstream_instance_up", dimensions: [("upstream", upstream), ("instance", instance)],
                factory: metricsFactory)
            gauge.set(1)
            return gauge
        }
        self.retries = Counter(
            label: "cinema_gateway_upstream_retries_total", dimensions: [("upstream", upstream)], factory: metricsFactory)
    }

    /// What the balancer holds right now, for tests and diagnostics.
    var snapshot: [BalancerState.Instance] {
        self.state.withLock { $0.instances }
    }

    /// An instance for the next attempt, or `nil` when every instance not in `tried` is down.
    func choose(excluding tried: Set<Int> = []) -> InstanceLease? {
        let now = self.now()
        guard let choice = self.state.withLock({ $0.choose(now: now, excluding: tried) }) else { return nil }
        return InstanceLease(balancer: self, choice: choice)
    }

    /// Counts a request sent to another instance, that of `lease`, after one refused it.
    func recordRetry(on lease: InstanceLease) {
        self.retries.increment()
        self.logger.debug("Retrying on another instance", metadata: ["upstream.instance": .string(lease.instance)])
    }

    fileprivate func connected(_ choice: BalancerState.Choice) {
        let now = self.now()
        self.apply(self.state.withLock { $0.connected(choice, now: now) }, to: choice, error: nil)
    }

    fileprivate func refused(_ choice: BalancerState.Choice, error: any Error) {
        let now = self.now()
        self.apply(self.state.withLock { $0.refused(choice, now: now) }, to: choice, error: error)
    }

    fileprivate func released(_ choice: BalancerState.Choice, connected: Bool) {
        let now = self.now()
        self.state.withLock { $0.released(choice, connected: connected, now: now) }
    }

    private func apply(_ transition: BalancerState.Transition?, to choice: BalancerState.Choice, error: (any Error)?) {
        guard let transition else { return }
        let instance = self.instances[choice.index]
        switch transition {
        case .markedDown:
            self.upGauges[choice.index].decrement()
            self.logger.warning(
                "Upstream instance refused a connection, marked down",
                metadata: [
                    "upstream.instance": .string(instance),
                    "upstream.retry_ms": .stringConvertible(Self.milliseconds(self.retryInterval)),
                    "error.message": .string(error.map { "\($0)" } ?? ""),
                ]
            )
        case .backUp(let downFor):
            self.upGauges[choice.index].increment()
            self.logger.notice(
                "Upstream instance accepts connections again, back in rotation",
                metadata: [
                    "upstream.instance": .string(instance),
                    "upstream.down_ms": .stringConvertible(Self.milliseconds(downFor)),
                ]
            )
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        let (total, sumOverflow) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        return overflow || sumOverflow ? Int64.max : total
    }
}

/// One attempt of a request on one instance, from the choice until the answer has been passed on (or has failed).
/// It counts as in flight on its instance until then. Ended exactly once: by ``refused(error:)``, by ``release()``,
/// or when the last reference goes away, so that a response dropped without its body ever being written cannot leave
/// the instance looking busy forever.
final class InstanceLease: Sendable {
    private enum Stage: UInt8 {
        case connecting
        case connected
        case ended
    }

    private let balancer: UpstreamBalancer
    let choice: BalancerState.Choice
    private let stage = Atomic(Stage.connecting.rawValue)

    fileprivate init(balancer: UpstreamBalancer, choice: BalancerState.Choice) {
        self.balancer = balancer
        self.choice = choice
    }

    /// The base URL to send this attempt to.
    var instance: String { self.balancer.instances[self.choice.index] }

    /// The instance took the request: it answered, or failed after the connection was made.
    func connected() {
        let (exchanged, _) = self.stage.compareExchange(
            expected: Stage.connecting.rawValue, desired: Stage.connected.rawValue, ordering: .acquiringAndReleasing)
        if exchanged { self.balancer.connected(self.choice) }
    }

    /// The instance refused the connection; the attempt is over and nothing was sent.
    func refused(error: any Error) {
        let (exchanged, _) = self.stage.compareExchange(
            expected: Stage.connecting.rawValue, desired: Stage.ended.rawValue, ordering: .acquiringAndReleasing)
        if exchanged { self.balancer.refused(self.choice, error: error) }
    }

    /// The attempt is over.
    func release() {
        let previous = self.stage.exchange(Stage.ended.rawValue, ordering: .acquiringAndReleasing)
        guard previous != Stage.ended.rawValue else { return }
        self.balancer.released(self.choice, connected: previous == Stage.connected.rawValue)
    }

    deinit {
        self.release()
    }
}

/// One balancer per upstream of the routing table; routes to the same upstream (`/movies`, `/reviews`, `/check`)
/// share it, since they share its instances and what is known about them.
struct UpstreamBalancers: Sendable {
    /// Keyed by upstream name and instance list: routes naming the same upstream list the same instances when built
    /// from the environment (one `<UPSTREAM>_URL` each); a hand-made table that does not still gets one balancer per
    /// list instead of sending requests to another route's instances.
    private struct Key: Hashable {
        var upstream: String
        var instances: [String]
    }

    private let byKey: [Key: UpstreamBalancer]

    init(
        configuration: GatewayConfiguration,
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        var byKey: [Key: UpstreamBalancer] = [:]
        for route in configuration.routes {
            let key = Key(upstream: route.upstreamName, instances: route.upstreams)
            guard byKey[key] == nil else { continue }
            byKey[key] = UpstreamBalancer(
                upstream: route.upstreamName,
                instances: route.upstreams,
                retryInterval: configuration.upstreamRetryInterval,
                logger: logger,
                metricsFactory: metricsFactory,
                now: now
            )
        }
        self.byKey = byKey
    }

    subscript(route: GatewayRoute) -> UpstreamBalancer? {
        self.byKey[Key(upstream: route.upstreamName, instances: route.upstreams)]
    }
}

extension ResponseBody {
    /// This body, followed by ending `lease` once it is written or has failed.
    func releasing(_ lease: InstanceLease) -> ResponseBody {
        let body = self
        return ResponseBody(contentLength: self.contentLength) { writer in
            defer { lease.release() }
            try await body.write(writer)
        }
    }
}
