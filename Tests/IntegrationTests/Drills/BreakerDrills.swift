import CinemaJSON
import CinemaPolling
import Foundation
import NIOHTTP1
import Synchronization
import Testing

extension Drills {
    /// Drill (j)'s settings: the reconciler's short timings, a 2 s payment call timeout and a
    /// breaker that stays open 5 s (the other breaker settings are the defaults: the last 20
    /// calls, judged from 10 on, open at 50 % failed or 80 % slower than 2 s, 3 trial calls).
    static let breakerSettings = timings.merging(
        ["PAYMENT_CALL_TIMEOUT_MS": String(paymentCallTimeout.milliseconds), "PAYMENT_BREAKER_OPEN_SECONDS": "5"]
    ) { $1 }
    static let paymentCallTimeout: Duration = .milliseconds(2000)

    /// (j): payment frozen (SIGSTOP: its sockets open and silent, every call times out) under a
    /// burst of reservations. The first calls time out until the payment circuit breaker opens;
    /// from then on reservations are refused at once (503 with Retry-After) and leave no trace:
    /// no reservation id, no reservation, no event, no payment. `/ready` shows the breaker open and
    /// stays 200. Payment resumed, the breaker half-opens after its wait and closes on its trial
    /// calls, reservations are accepted again, and the calls that timed out (and may have paid)
    /// are refunded by the reconciler: the money reconciles.
    @Test func paymentFrozenOpensTheBreakerAndReservationsAreRefusedAtOnce() async throws {
        let count = DrillMode.isFull ? 100 : 40
        try await CinemaCluster.with(environment: Self.breakerSettings) { cluster in
            try await prepareMovie(cluster)
            let reservedBefore = try await reservedIds(cluster)
            let started = ContinuousClock.now
            let watcher = ReadinessWatcher()
            let watching = Task { [url = "http://127.0.0.1:\(cluster.ports["reservation"] ?? 0)/ready"] in await watcher.watch(url) }
            // Whatever fails below, payment does not stay frozen and the watcher stops.
            defer {
                watching.cancel()
                cluster.processes["payment"]?.freeze(false)
            }
            cluster.processes["payment"]?.freeze(true)
            let frozen = await cluster.timedBurst(count: count)
            // The breaker opened during the burst, which is why most of it was refused at once.
            _ = try await eventually("/ready shows the breaker open", timeout: .seconds(5)) { () -> Bool? in
                watcher.statesSeen.contains("OPEN") ? true : nil
            }
            cluster.processes["payment"]?.freeze(false)
            let recovery = try await reserveUntilTheBreakerCloses(cluster, firstIndex: count)
            watching.cancel()
            await watching.value
            let after = await cluster.timedBurst(count: DrillMode.isFull ? 30 : 10, firstIndex: count + recovery.count)
            #expect(after.allSatisfy { $0.status == 201 }, "after recovery: \(after.map(\.status))")

            let all = frozen + recovery + after
            try await settleAndRecordBreakerDrill(
                cluster, count: count, frozen: frozen, recovery: recovery, all: all, reservedBefore: reservedBefore,
                watcher: watcher, started: started
            )
        }
    }

    /// Reservations one at a time until one is accepted with the breaker closed again. A
    /// reservation refused by the breaker waits what its Retry-After says, as a client should;
    /// any other refusal waits a moment.
    func reserveUntilTheBreakerCloses(_ cluster: CinemaCluster, firstIndex: Int) async throws -> [TimedReservation] {
        var attempts: [TimedReservation] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let attempt = await CinemaCluster.timedReservation(cluster.gatewayURL, firstIndex + attempts.count)
            attempts.append(attempt)
            if attempt.status == 201,
                try await cluster.direct("reservation", "/ready").json?["details"]?["paymentBreaker"] == .string("CLOSED")
            {
                return attempts
            }
            try await Task.sleep(for: attempt.isRefusedByTheBreaker ? .seconds(attempt.retryAfter ?? 1) : .milliseconds(200))
        }
        throw TimedOut(waitingFor: "the payment breaker closes again (\(attempts.map(\.status)))")
    }

    func settleAndRecordBreakerDrill(
        _ cluster: CinemaCluster, count: Int, frozen: [TimedReservation], recovery: [TimedReservation], all: [TimedReservation],
        reservedBefore: Set<Int64>, watcher: ReadinessWatcher, started: ContinuousClock.Instant
    ) async throws {
        let accepted = Set(all.compactMap(\.rsvId))
        // Every request the breaker let through took a reservation id (its pending payment row);
        // one it refused must not have. Ids are allocated one after the other, so the highest
        // reservation id (a reservation accepted last) counts every id ever taken.
        let tookAnId = all.filter { !$0.isRefusedByTheBreaker }.count
        let timedOutIds = Set(Int64(reservedBefore.count + 1)..<Int64(reservedBefore.count + tookAnId + 1)).subtracting(accepted)
        let settled = try? await eventually("drill (j) settles", timeout: .seconds(90)) { () -> Bool? in
            let reserved = try await reservedIds(cluster)
            let money = try await cluster.moneyReconciles()
            let messages = try await confirmations(cluster)
            let latePayments = try await cluster.items("payments").filter { Self.rsvId($0).map(timedOutIds.contains) == true }
            return accepted.isSubset(of: reserved) && money.paid == money.holding && messages == reserved.count
                && latePayments.allSatisfy { $0["status"] == .string("cancelled") } ? true : nil
        }
        let reservations = try await cluster.items("reservations")
        let reserved = try await reservedIds(cluster)
        let messages = try await confirmations(cluster)
        let money = try await cluster.moneyReconciles()
        let payments = try await cluster.items("payments")
        let latePayments = payments.filter { Self.rsvId($0).map(timedOutIds.contains) == true }
        let events = try await cluster.events().map(\.json)
        let created = events.filter { $0.contains(#""eventType":"ReservationCreated""#) }.count
        let approved = events.filter { $0.contains(#""eventType":"PaymentApproved""#) }.count

        let refused = frozen.filter(\.isRefusedByTheBreaker)
        let timedOut = frozen.filter(\.isPaymentUnavailable)
        let refusedLatency = Latency(refused.map(\.took))
        let timedOutLatency = Latency(timedOut.map(\.took))
        let highestId = reservations.compactMap(Self.rsvId).max() ?? 0
        let readiness = watcher.answers
        // Every transition, from the reservation service's log: half-open may last less than
        // one look of the watcher when the reconciler's voids are the trial calls.
        let transitions = Self.breakerTransitions(inLog: cluster.processes["reservation"]?.log ?? "")
        let metrics = try await cluster.direct("reservation", "/metrics").text
        let rejectedCalls = Self.value(of: #"cinema_circuit_breaker_rejected_calls_total{breaker="payment"}"#, in: metrics) ?? 0
        let closedAgain = Self.value(
            of: #"cinema_circuit_breaker_transitions_total{breaker="payment",from="half_open",to="closed"}"#, in: metrics)
        let figures = DrillFigures(
            drill: "(j) payment frozen (SIGSTOP) during \(count) reservations: circuit breaker",
            sent: all.count, accepted: accepted.count, confirmed: accepted.intersection(reserved).count,
            lost: accepted.subtracting(reserved).count + max(0, reserved.count - messages),
            doubled: max(0, messages - reserved.count),
            seconds: (ContinuousClock.now - started).secondsValue,
            note:
                "frozen: \(timedOut.count) timed out (\(Self.paymentCallTimeout.milliseconds) ms call timeout, p50 \(timedOutLatency.p50) ms), "
                + "\(refused.count) refused by the open breaker in p50 \(refusedLatency.p50) ms / max \(refusedLatency.max) ms "
                + "(Retry-After \(Set(refused.compactMap(\.retryAfter)).sorted().map(String.init).joined(separator: "/")) s, no id taken: "
                + "highest id \(highestId) = \(reservedBefore.count + tookAnId)); /ready 200 in \(readiness.filter { $0.status == 200 }.count) "
                + "of \(readiness.count) looks (\(watcher.statesSeen.joined(separator: "→"))); transitions \(transitions.joined(separator: "→")); "
                + "\(Int(rejectedCalls)) rejections counted in /metrics; resumed: \(recovery.count) attempts "
                + "to reserve until closed; \(latePayments.count) late payments of timed-out calls refunded; paid \(money.paid) = holding \(money.holding)"
        )
        figures.record()

        #expect(settled == true, "\(figures)")
        #expect(figures.lost == 0 && figures.doubled == 0)
        #expect(money.paid == money.holding)
        #expect(latePayments.allSatisfy { $0["status"] == .string("cancelled") }, "a payment for a refused reservation was not refunded")
        // The breaker did its job: it opened, refused most of the burst, and each refusal came at once.
        #expect(timedOut.count >= 1 && refused.count >= count / 2, "timed out \(timedOut.count), refused \(refused.count)")
        #expect(refusedLatency.p50 < Int(Self.paymentCallTimeout.milliseconds / 10), "refusals are not immediate")
        #expect(refusedLatency.max < Int(Self.paymentCallTimeout.milliseconds / 2), "a refusal waited")
        #expect(refused.allSatisfy { ($0.retryAfter ?? 0) >= 1 && ($0.retryAfter ?? 0) <= 5 })
        // Nothing for the refused: no id, so no pending row, reservation, event or payment.
        #expect(highestId == reservedBefore.count + tookAnId, "a refused reservation took an id")
        #expect(reservations.count == reservedBefore.count + accepted.count)
        #expect(created == reservations.count)
        #expect(approved == payments.count)
        #expect(payments.count <= reservations.count + timedOutIds.count)
        // The metrics tell the same: every refusal counted, closed again.
        #expect(rejectedCalls >= Double(refused.count), "rejected calls \(rejectedCalls)")
        #expect(closedAgain == 1)
        #expect(Self.value(of: #"cinema_circuit_breaker_state{breaker="payment"}"#, in: metrics) == 0)
        // Readiness named the breaker's states without ever failing.
        #expect(readiness.allSatisfy { $0.status == 200 }, "\(readiness.filter { $0.status != 200 })")
        #expect(Array(watcher.statesSeen.prefix(2)) == ["CLOSED", "OPEN"])
        // Opened by the frozen payment; after the wait, half-open and closed by trial calls (perhaps
        // after a failed trial re-opened it, while payment was still catching up).
        #expect(transitions.first == "OPEN" && Array(transitions.suffix(2)) == ["HALF_OPEN", "CLOSED"], "\(transitions)")
    }

    /// The states the payment breaker moved to, in order, from the `breaker.to=` of its log lines.
    static func breakerTransitions(inLog log: String) -> [String] {
        log.split(separator: "\n").filter { $0.contains("circuit breaker") }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("breaker.to=") }.map { String($0.dropFirst("breaker.to=".count)) }
        }
    }

    /// The value of one series in a Prometheus text.
    static func value(of series: String, in metrics: String) -> Double? {
        metrics.split(separator: "\n").lazy.filter { $0.hasPrefix(series + " ") }.compactMap { Double($0.dropFirst(series.count + 1)) }
            .first
    }

    static func rsvId(_ item: JSONValue) -> Int64? {
        if case .integer(let id)? = item["rsvId"] { id } else { nil }
    }
}

/// One reservation request as the drill saw it: the answer and how long it took.
struct TimedReservation: Sendable {
    var status: Int
    var rsvId: Int64?
    var message: String?
    var retryAfter: Int?
    var took: Duration

    /// Refused by the open (or half-open and busy) breaker, before anything was written.
    var isRefusedByTheBreaker: Bool {
        status == 503 && message?.hasPrefix("payment is failing or overloaded; no reservation was made") == true
    }

    /// Refused after a payment call that failed (here: timed out).
    var isPaymentUnavailable: Bool {
        status == 503 && message?.hasPrefix("payment service unavailable") == true
    }
}

/// The middle and the worst of some durations, in whole milliseconds.
struct Latency {
    var p50 = 0
    var max = 0

    init(_ durations: [Duration]) {
        let milliseconds = durations.map { Int($0.milliseconds) }.sorted()
        guard let worst = milliseconds.last else { return }
        p50 = milliseconds[milliseconds.count / 2]
        max = worst
    }
}

/// Looks at the reservation service's `/ready` every 100 ms while it runs: the answers' statuses
/// and the payment breaker states it named, in order and without repeats.
final class ReadinessWatcher: Sendable {
    private let looks = Mutex<[(status: Int, breaker: String)]>([])

    var answers: [(status: Int, breaker: String)] { looks.withLock { $0 } }

    var statesSeen: [String] {
        answers.map(\.breaker).reduce(into: []) { states, state in
            if states.last != state { states.append(state) }
        }
    }

    func watch(_ readyURL: String) async {
        while !Task.isCancelled {
            if let reply = try? await CinemaCluster.send(.GET, readyURL, body: nil),
                case .string(let state)? = reply.json?["details"]?["paymentBreaker"]
            {
                looks.withLock { $0.append((reply.status, state)) }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}

extension CinemaCluster {
    /// One reservation (of the drill's movies, in turn) through the gateway at `gatewayURL`, timed.
    static func timedReservation(_ gatewayURL: String, _ index: Int) async -> TimedReservation {
        let start = ContinuousClock.now
        let reply = try? await send(.POST, gatewayURL + "/reservations", body: Drills.reservation(index))
        let took = ContinuousClock.now - start
        guard let reply else { return TimedReservation(status: 0, took: took) }
        var timed = TimedReservation(status: reply.status, took: took)
        if reply.status == 201, case .integer(let id)? = reply.json?["rsvId"] { timed.rsvId = id }
        if case .string(let message)? = reply.json?["message"] { timed.message = message }
        timed.retryAfter = reply.headers.first(name: "Retry-After").flatMap { Int($0) }
        return timed
    }

    /// `count` timed reservations, `concurrency` at a time.
    func timedBurst(count: Int, concurrency: Int = 4, firstIndex: Int = 0) async -> [TimedReservation] {
        let state = TimedBurstState()
        await withTaskGroup(of: Void.self) { [gatewayURL] group in
            for _ in 0..<concurrency {
                group.addTask {
                    while let index = state.next.withLock({ value -> Int? in
                        guard value < count else { return nil }
                        value += 1
                        return value - 1
                    }) {
                        let timed = await Self.timedReservation(gatewayURL, firstIndex + index)
                        state.results.withLock { $0.append(timed) }
                    }
                }
            }
        }
        return state.results.withLock { $0 }
    }
}

/// Shared by the senders of a timed burst.
final class TimedBurstState: Sendable {
    let next = Mutex(0)
    let results = Mutex<[TimedReservation]>([])
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
