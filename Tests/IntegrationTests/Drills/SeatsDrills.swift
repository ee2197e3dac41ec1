import CinemaJSON
import CinemaPolling
import Foundation
import NIOHTTP1
import Testing

extension Drills {
    /// The seats saga: 30 concurrent reservations for 5 seats, then 2 cancellations and 5 more
    /// reservations. The movie service decides; exactly the seats end `reserved`, every other
    /// reservation `rejected` and refunded, and paid payments equal the reserved seats.
    @Test func thirtyReservationsForFiveSeats() async throws {
        try await CinemaCluster.with(environment: Self.timings) { cluster in
            let registered = try await cluster.request(.POST, "/movies", body: #"{"desc":"Five seats","seats":5}"#)
            guard case .integer(let movieId)? = registered.json?["movieId"] else {
                Issue.record("no movie: \(registered.text)")
                return
            }
            let body: @Sendable (Int) -> String = { _ in #"{"movieId":\#(movieId)}"# }

            var started = ContinuousClock.now
            let rush = try await cluster.burst(count: 30, concurrency: 30, path: "/reservations", body: body, idField: "rsvId") {}
            let first = try await settleSeats(cluster, movieId: movieId, expecting: rush.acceptedIds.count, reserved: 5)
            DrillFigures(
                drill: "seats: 30 concurrent reservations for 5 seats", sent: rush.sent, accepted: rush.acceptedIds.count,
                confirmed: first.reserved, lost: max(0, rush.acceptedIds.count - first.reserved - first.rejected),
                doubled: max(0, first.reserved - 5), seconds: (ContinuousClock.now - started).secondsValue,
                note: "\(first.reserved) reserved, \(first.rejected) rejected and refunded; \(first.notices) rejection notices; "
                    + "paid \(first.money.paid) = holding \(first.money.holding)"
            ).record()
            #expect(rush.acceptedIds.count == 30, "every reservation is paid and accepted; the movie decides afterwards")
            #expect(first.reserved == 5 && first.rejected == 25)
            #expect(first.notices == 25)
            #expect(first.money.paid == first.money.holding)

            // Two customers cancel; their seats go to the next two of five new reservations.
            started = ContinuousClock.now
            for rsvId in first.reservedIds.prefix(2) {
                let cancel = try await cluster.request(.PATCH, "/reservations/\(rsvId)", body: #"{"status":"reqCancel"}"#)
                #expect(cancel.status == 200)
            }
            _ = try await eventually("the two cancellations free their seats", timeout: .seconds(60)) { () -> Bool? in
                let movie = try await cluster.request(.GET, "/movies/\(movieId)")
                return movie.json?["reservedSeats"] == .integer(3) ? true : nil
            }
            let again = try await cluster.burst(count: 5, concurrency: 5, path: "/reservations", body: body, idField: "rsvId") {}
            let second = try await settleSeats(
                cluster, movieId: movieId, expecting: 30 + again.acceptedIds.count, reserved: 5, cancelled: 2)
            DrillFigures(
                drill: "seats: 2 cancellations, then 5 reservations for the 2 freed seats", sent: again.sent,
                accepted: again.acceptedIds.count, confirmed: second.reserved - 3,
                lost: max(0, 30 + again.acceptedIds.count - second.reserved - second.rejected - 2),
                doubled: max(0, second.reserved - 5), seconds: (ContinuousClock.now - started).secondsValue,
                note:
                    "\(second.reserved) reserved, \(second.rejected) rejected, 2 cancelled; paid \(second.money.paid) = holding \(second.money.holding)"
            ).record()
            #expect(second.reserved == 5 && second.rejected == 28)
            let movie = try await cluster.request(.GET, "/movies/\(movieId)")
            #expect(movie.json?["reservedSeats"] == .integer(5))
            #expect(second.money.paid == second.money.holding)
        }
    }

    struct SeatsOutcome {
        var reservedIds: [Int64]
        var reserved: Int { reservedIds.count }
        var rejected: Int
        var notices: Int
        var money: (paid: Int, holding: Int)
    }

    /// Waits until `expecting` reservations of the movie are decided (reserved, rejected or
    /// cancelled), `reserved` of them reserved, every rejected one refunded and noticed.
    func settleSeats(
        _ cluster: CinemaCluster, movieId: Int64, expecting: Int, reserved: Int, cancelled: Int = 0
    ) async throws -> SeatsOutcome {
        var outcome = SeatsOutcome(reservedIds: [], rejected: 0, notices: 0, money: (0, 0))
        _ = try? await eventually("the seats are decided", timeout: .seconds(90)) { () -> Bool? in
            let mine = try await cluster.items("reservations").filter { $0["movieId"] == .integer(movieId) }
            func with(_ status: String) -> [JSONValue] { mine.filter { $0["status"] == .string(status) } }
            outcome.reservedIds = with("reserved").compactMap { if case .integer(let id)? = $0["rsvId"] { id } else { nil } }.sorted()
            outcome.rejected = with("rejected").count
            outcome.notices = try await cluster.items("messages").filter {
                if case .string(let text)? = $0["content"] { text.hasPrefix("예약이 거절") } else { false }
            }.count
            outcome.money = try await cluster.moneyReconciles()
            let decided = outcome.reserved + outcome.rejected + with("cancelled").count
            return decided == expecting && outcome.reserved == reserved && outcome.notices == outcome.rejected
                && outcome.money.paid == outcome.money.holding && with("cancelled").count == cancelled ? true : nil
        }
        return outcome
    }
}
