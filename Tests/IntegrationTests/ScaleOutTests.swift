import CinemaJSON
import CinemaPolling
import Foundation
import NIOHTTP1
import Synchronization
import Testing

/// Two replicas of every service on one real PostgreSQL server (the one `make test` starts,
/// named by `CINEMA_TEST_DATABASE_URL`): what an HPA scaling the services needs to hold.
@Suite(.serialized, .enabled(if: TestPostgresServer.url != nil), .timeLimit(.minutes(5)))
struct ScaleOutTests {
    /// The reconciler looks every second at calls older than 8 s: longer than a call and its void
    /// can take (3 s each), so it only settles what a dead replica left.
    static let timings = ["RECONCILE_INTERVAL_SECONDS": "1", "RECONCILE_AFTER_SECONDS": "8"]

    func withTwoReplicas(_ body: (CinemaCluster) async throws -> Void) async throws {
        let server = try #require(TestPostgresServer.url)
        try await CinemaCluster.with(environment: Self.timings, database: .postgres(serverURL: server), replicas: 2, body)
    }

    /// Reservations straight to both reservation replicas, in turn, `concurrency` at a time.
    func reserve(_ cluster: CinemaCluster, count: Int, concurrency: Int = 20, replicas: [String]) async -> [Int64] {
        await Self.reserve(urls: replicas.map { cluster.url(of: $0) + "/reservations" }, count: count, concurrency: concurrency)
    }

    static func reserve(urls: [String], count: Int, concurrency: Int) async -> [Int64] {
        let progress = BurstState()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while let index = progress.next.withLock({ value -> Int? in
                        guard value < count else { return nil }
                        value += 1
                        return value - 1
                    }) {
                        let reply = try? await CinemaCluster.send(.POST, urls[index % urls.count], body: #"{"movieId":1}"#)
                        if reply?.status == 201, case .integer(let id)? = reply?.json?["rsvId"] {
                            progress.result.withLock { $0.acceptedIds.append(id) }
                        }
                    }
                }
            }
        }
        return progress.result.withLock { $0.acceptedIds }
    }

    func registerMovie(_ cluster: CinemaCluster) async throws {
        let movie = try await CinemaCluster.send(.POST, cluster.url(of: "movie-2") + "/movies", body: #"{"desc":"Scaled"}"#)
        #expect(movie.status == 201)
    }

    /// Every reservation in the shared database is reserved, messaged once, paid once.
    func settled(_ cluster: CinemaCluster, accepted: Set<Int64>) async throws -> Bool {
        let ok = try? await eventually("every accepted reservation is confirmed and messaged", timeout: .seconds(90)) { () -> Bool? in
            let reservations = try await cluster.items("reservations")
            let reserved = Set(
                reservations.compactMap { item -> Int64? in
                    guard item["status"] == .string("reserved"), case .integer(let id)? = item["rsvId"] else { return nil }
                    return id
                })
            let messages = try await cluster.items("messages").filter {
                if case .string(let content)? = $0["content"] { content.hasPrefix("예약이 완료") } else { false }
            }.count
            let money = try await cluster.moneyReconciles()
            let pending = reservations.filter { $0["status"] == .string("reqReserve") }.count
            return accepted.isSubset(of: reserved) && messages == reserved.count && money.paid == money.holding && pending == 0
                ? true : nil
        }
        return ok == true
    }

    /// The document's walkthrough through the gateway, which balances over two replicas of
    /// everything: the same answers, state and event log as with one process each.
    @Test func theDocumentsScenarioBehavesTheSame() async throws {
        try await withTwoReplicas { cluster in try await EndToEndTests().runScenario(cluster) }
    }

    @Test func twoHundredConcurrentReservationsAcrossTwoReplicasAreAllConfirmedOnce() async throws {
        try await withTwoReplicas { cluster in
            try await registerMovie(cluster)
            // One dashboard on each viewpage replica: the movie's events all go to one partition, which only one replica
            // consumes, and a page on either must still see its reservations.
            let confirmed: @Sendable (String, String) -> Bool = { name, data in
                name == "movieview" && (try? JSONValue.parse(Array(data.utf8)))?["row"]?["rsvStatus"] == .string("reserved")
            }
            let watches = [
                try await DashboardWatch.open(cluster.url(of: "viewpage") + "/dashboard/events", matching: confirmed),
                try await DashboardWatch.open(cluster.url(of: "viewpage-2") + "/dashboard/events", matching: confirmed),
            ]
            defer { for watch in watches { watch.close() } }
            let accepted = await reserve(cluster, count: 200, replicas: ["reservation", "reservation-2"])
            #expect(accepted.count == 200)
            #expect(Set(accepted).count == accepted.count, "a reservation id was handed out twice")
            #expect(try await settled(cluster, accepted: Set(accepted)))
            _ = try await eventually("both viewpage replicas streamed a confirmed reservation", timeout: .seconds(20)) { () -> Bool? in
                watches.allSatisfy(\.hasMatched) ? true : nil
            }
            let messages = try await cluster.items("messages").count
            #expect(messages == 200, "one message per reservation, whichever replica consumed it")
            // Both relays are up, one publishes: every event once on the topic (by message id).
            let events = try await cluster.eventsWithHeaders()
            let ids = events.compactMap { $0.headers.split(separator: ",").first { $0.hasPrefix("message-id=") } }
            #expect(ids.count == Set(ids).count, "an event was published twice")
        }
    }

    @Test func killingOneReservationReplicaMidBurstLosesNothing() async throws {
        try await withTwoReplicas { cluster in
            try await registerMovie(cluster)
            let urls = ["reservation", "reservation-2"].map { cluster.url(of: $0) + "/reservations" }
            async let burst = Self.reserve(urls: urls, count: 120, concurrency: 10)
            // Once a few are in, one replica dies outright.
            _ = try await eventually("the burst is under way", interval: .milliseconds(20)) { () -> Bool? in
                try await cluster.items("reservations").count >= 20 ? true : nil
            }
            cluster.kill("reservation-2")
            let accepted = await burst
            // The other kept accepting after the kill.
            let after = await reserve(cluster, count: 10, replicas: ["reservation"])
            #expect(after.count == 10)
            let all = Set(accepted + after)
            #expect(all.count == accepted.count + after.count)
            // The killed replica's pending payments are settled by the survivor's reconciler (the
            // pending rows are in the shared database), so money reconciles.
            #expect(try await settled(cluster, accepted: all))
        }
    }
}

enum TestPostgresServer {
    static var url: String? {
        ProcessInfo.processInfo.environment["CINEMA_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }
}
