import CinemaJSON
import CinemaPolling
import Foundation
import NIOHTTP1
import Testing

/// The reliability drills (`make drills`): faults against the real running system while it works,
/// then counts. See RELIABILITY.md for the guarantee each one proves and the last figures.
@Suite(.serialized, .enabled(if: DrillMode.isEnabled))
struct Drills {
    enum Disruption: String {
        case kill = "kill -9"
        case stop = "SIGTERM"
        case foreignMember = "a foreign member joins the group of"

        var letter: String {
            switch self {
            case .kill: "(c)"
            case .stop: "(e)"
            case .foreignMember: "(b)"
            }
        }
    }

    static let confirmation = "예약이 완료 되었습니다."
    /// How long a killed or stopped service stays down before it is started again.
    static let outage: Duration = .milliseconds(500)
    /// The reconciler looks every second at payment calls older than 3 s, so a drill can wait for it.
    static let timings = ["RECONCILE_INTERVAL_SECONDS": "1", "RECONCILE_AFTER_SECONDS": "3"]

    /// (c), (e), (h): a consumer service killed (or stopped) in the middle of a burst of
    /// reservations, then started again. Every accepted reservation is confirmed, exactly one
    /// message is left per confirmation, and paid payments equal the reservations holding a seat.
    @Test func crashesAndStopsDuringReservations() async throws {
        let count = DrillMode.isFull ? 100 : 30
        // The fast subset (CI) disrupts each kind once or twice; the full set every consumer service.
        var victims: [(String, Disruption)] = [
            ("message", .kill), ("viewpage", .kill), ("reservation", .stop), ("reservation", .kill), ("message", .foreignMember),
        ]
        if DrillMode.isFull {
            victims += [("payment", .kill), ("movie", .kill), ("message", .stop), ("payment", .stop)]
            victims += ["movie", "viewpage", "payment", "reservation"].map { ($0, .foreignMember) }
        }
        if let only = ProcessInfo.processInfo.environment["CINEMA_DRILL_ONLY"] {
            victims = victims.filter { "\($0.1.rawValue) \($0.0)".contains(only) }
        }
        try await CinemaCluster.with(environment: Self.timings) { cluster in
            try await prepareMovie(cluster)
            for (victim, disruption) in victims {
                let reservedBefore = try await reservedIds(cluster)
                let started = ContinuousClock.now
                var foreignMemberTookEvents = true
                var extras = Burst()
                var burst = try await cluster.burst(
                    count: count, path: "/reservations", body: Self.reservation, idField: "rsvId"
                ) {
                    switch disruption {
                    case .kill:
                        cluster.kill(victim)
                        try await Task.sleep(for: Self.outage)
                        try await cluster.restart(victim)
                    case .stop:
                        await cluster.stop(victim)
                        try await Task.sleep(for: Self.outage)
                        try await cluster.restart(victim)
                    case .foreignMember:
                        // Reservations go on until the member took some (counted with the burst's).
                        foreignMemberTookEvents = try await cluster.joinGroupUntilItTakesEvents(victim) {
                            extras.sent += 1
                            let reply = try await cluster.request(.POST, "/reservations", body: Self.reservation(extras.sent))
                            if reply.status == 201, case .integer(let id)? = reply.json?["rsvId"] {
                                extras.acceptedIds.append(id)
                            } else {
                                extras.refused[reply.status, default: 0] += 1
                            }
                        }
                    }
                }
                burst.sent += extras.sent
                burst.acceptedIds += extras.acceptedIds
                burst.refused.merge(extras.refused, uniquingKeysWith: +)
                try await settleAndRecord(
                    cluster, drill: "\(disruption.letter) \(disruption.rawValue) \(victim) during \(count) reservations",
                    burst: burst, reservedBefore: reservedBefore, started: started
                )
                #expect(foreignMemberTookEvents, "the foreign member never took an event: the drill proved nothing")
            }
        }
    }

    /// (d), (h): poison and duplicate events produced with kcat: the poison is dead-lettered, the
    /// duplicate applied once, and the consumers go on.
    @Test func poisonAndDuplicateEvents() async throws {
        try await CinemaCluster.with(environment: Self.timings) { cluster in
            try await prepareMovie(cluster)
            let started = ContinuousClock.now
            let confirmed = try await eventually("a confirmation with its message id") { () -> (value: String, headers: String)? in
                try await cluster.eventsWithHeaders().first { $0.value.contains(#""eventType":"ReservationConfirmed""#) }
            }
            let messageId = confirmed.headers.split(separator: ",").first { $0.hasPrefix("message-id=") }.map { String($0.dropFirst(11)) }
            let id = try #require(messageId)
            let lettersBefore = try await cluster.deadLetters().count
            // The same confirmation twice more, with its message id: each reader applies it once.
            try await cluster.produce([confirmed.value, confirmed.value], key: "1", headers: ["message-id=\(id)"])
            // Poison: not JSON, a known type with a broken body, an unknown type.
            let poison = ["\u{1}\u{2}garbage", #"{"eventType":"ReservationCancelled","rsvId":{},"movieId":1}"#, #"{"eventType":"Nope"}"#]
            try await cluster.produce(poison, key: "1")
            // The consumers go on: a reservation made after it all is confirmed and messaged.
            let after = try await cluster.request(.POST, "/reservations", body: #"{"movieId":1}"#)
            #expect(after.status == 201)
            let settled = try? await eventually("the consumers went on", timeout: .seconds(60)) { () -> Bool? in
                try await confirmations(cluster) == 2 ? true : nil
            }
            let letters = try await cluster.deadLetters().count - lettersBefore
            let messages = try await confirmations(cluster)
            let money = try await cluster.moneyReconciles()
            let figures = DrillFigures(
                drill: "(d) poison (3) and duplicate (2) events with kcat", sent: 5, accepted: 5, confirmed: settled == true ? 5 : 0,
                lost: max(0, 2 - messages), doubled: max(0, messages - 2), seconds: (ContinuousClock.now - started).secondsValue,
                note:
                    "\(letters) dead letters (expected 8: 5 groups × garbage, movie+message+viewpage × broken); paid \(money.paid) = holding \(money.holding)"
            )
            figures.record()
            #expect(settled == true)
            #expect(messages == 2, "a duplicate was applied twice")
            // Garbage by every group (5); the broken ReservationCancelled by the groups that handle it.
            _ = try await eventually("the poison is dead-lettered") { () -> Bool? in
                try await cluster.deadLetters().count - lettersBefore >= 8 ? true : nil
            }
            #expect(money.paid == money.holding)
        }
    }

    /// Waits until every accepted reservation is confirmed and messaged once and the money
    /// reconciles, then records the figures and expects none lost or doubled.
    func settleAndRecord(
        _ cluster: CinemaCluster, drill: String, burst: Burst, reservedBefore: Set<Int64>, started: ContinuousClock.Instant
    ) async throws {
        let accepted = Set(burst.acceptedIds)
        let settled = try? await eventually("drill \(drill) settles", timeout: .seconds(90)) { () -> Bool? in
            let reserved = try await reservedIds(cluster)
            let money = try await cluster.moneyReconciles()
            let messages = try await confirmations(cluster)
            // One confirmation message per reservation that exists, whether or not its client
            // saw the 201 (a crash between commit and answer leaves a reservation whose
            // client was told 502; it is paid and holds its seat all the same).
            return accepted.isSubset(of: reserved) && money.paid == money.holding && messages == reserved.count ? true : nil
        }
        let reserved = try await reservedIds(cluster)
        let messages = try await confirmations(cluster)
        let money = try await cluster.moneyReconciles()
        let createdDespiteError = reserved.subtracting(reservedBefore).subtracting(accepted).count
        let figures = DrillFigures(
            drill: drill,
            sent: burst.sent, accepted: accepted.count, confirmed: accepted.intersection(reserved).count,
            lost: accepted.subtracting(reserved).count + max(0, reserved.count - messages),
            doubled: max(0, messages - reserved.count),
            seconds: (ContinuousClock.now - started).secondsValue,
            note: "refused \(burst.refused.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")); "
                + "\(createdDespiteError) reserved although the client got an error; paid \(money.paid) = holding \(money.holding)"
        )
        figures.record()
        #expect(settled == true, "\(figures)")
        #expect(figures.lost == 0 && figures.doubled == 0)
        #expect(money.paid == money.holding)
    }

    /// A reservation of one of the drill's movies, in turn.
    @Sendable static func reservation(_ index: Int) -> String {
        #"{"movieId":\#(drillMovies[index % drillMovies.count])}"#
    }

    func confirmations(_ cluster: CinemaCluster) async throws -> Int {
        try await cluster.items("messages").filter {
            if case .string(let content)? = $0["content"] { content.hasPrefix(Self.confirmation) } else { false }
        }.count
    }

    func reservedIds(_ cluster: CinemaCluster) async throws -> Set<Int64> {
        Set(
            try await cluster.items("reservations").compactMap { item -> Int64? in
                guard item["status"] == .string("reserved"), case .integer(let id)? = item["rsvId"] else { return nil }
                return id
            })
    }
}

extension Duration {
    var secondsValue: Double {
        let (seconds, attoseconds) = components
        return (Double(seconds) + Double(attoseconds) / 1e18).rounded(toPlaces: 1)
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = (0..<places).reduce(1.0) { value, _ in value * 10 }
        return (self * scale).rounded() / scale
    }
}
