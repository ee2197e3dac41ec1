import CinemaJSON
import CinemaPolling
import Foundation
import NIOHTTP1
import Synchronization
import Testing

/// Drills run only under `make drills` (CINEMA_DRILLS=fast for CI's subset, =full for all of
/// them); `make test` skips them.
enum DrillMode {
    static var setting: String? { ProcessInfo.processInfo.environment["CINEMA_DRILLS"] }
    static var isEnabled: Bool { setting != nil }
    static var isFull: Bool { setting == "full" }
}

/// One row of the drills' table. Appended as a JSON line to `CINEMA_DRILL_FIGURES`, which
/// `make drills` renders, and printed.
struct DrillFigures: Codable {
    var drill: String
    var sent: Int
    var accepted: Int
    var confirmed: Int
    var lost: Int
    var doubled: Int
    var seconds: Double
    var note: String

    func record() {
        let line = String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self)
        print("drill figures: \(line)")
        guard let path = ProcessInfo.processInfo.environment["CINEMA_DRILL_FIGURES"],
            let handle = FileHandle(forWritingAtPath: path) ?? createFile(path)
        else { return }
        handle.seekToEndOfFile()
        handle.write(Data((line + "\n").utf8))
        try? handle.close()
    }

    private func createFile(_ path: String) -> FileHandle? {
        FileManager.default.createFile(atPath: path, contents: nil)
        return FileHandle(forWritingAtPath: path)
    }
}

/// What became of a burst of requests.
struct Burst {
    var acceptedIds: [Int64] = []
    var refused: [Int: Int] = [:]
    var sent = 0
}

/// Shared by the senders of a burst.
final class BurstState: Sendable {
    let next = Mutex(0)
    let result = Mutex(Burst())
}

extension CinemaCluster {
    /// Sends `count` requests, `concurrency` at a time, and runs `disruption` once a third of them
    /// were sent. Returns the ids of the 201s (from `idField`) and the other answers by status.
    func burst(
        count: Int, concurrency: Int = 4, path: String, body: @escaping @Sendable (Int) -> String, idField: String,
        disruption: () async throws -> Void
    ) async throws -> Burst {
        let state = BurstState()
        let url = gatewayURL + path
        // The sender that takes request number count/3 says so; the disruption starts then.
        let (thirdSent, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let index = state.next.withLock { value -> Int? in
                            guard value < count else { return nil }
                            value += 1
                            return value - 1
                        }
                        guard let index else { return }
                        if index == count / 3 { signal.yield() }
                        let reply = try? await CinemaCluster.send(.POST, url, body: body(index))
                        state.result.withLock { burst in
                            burst.sent += 1
                            if let reply, reply.status == 201, case .integer(let id)? = reply.json?[idField] {
                                burst.acceptedIds.append(id)
                            } else {
                                burst.refused[reply?.status ?? 0, default: 0] += 1
                            }
                        }
                    }
                }
            }
            // The disruption runs here, beside the senders, once a third of the requests went out.
            for await _ in thirdSent { break }
            try await disruption()
            try await group.waitForAll()
        }
        return state.result.withLock { $0 }
    }

    /// The number of items of a collection (`page.totalElements`).
    func total(_ collection: String) async throws -> Int {
        let reply = try await request(.GET, "/\(collection)?size=1")
        guard case .integer(let total)? = reply.json?["page"]?["totalElements"] else {
            throw UnexpectedReply(reply: reply.text, status: reply.status)
        }
        return Int(total)
    }

    /// Paid payments against reservations that hold a seat: they must be equal.
    func moneyReconciles() async throws -> (paid: Int, holding: Int) {
        let paid = try await items("payments").filter { $0["status"] == .string("paid") }.count
        let holding = try await items("reservations").filter {
            $0["status"] == .string("reserved") || $0["status"] == .string("reqReserve")
        }.count
        return (paid, holding)
    }
}

/// The movies a drill reserves, keyed (and so partitioned) apart, so that every consumer group
/// member gets events.
let drillMovies: [Int64] = [1, 2, 3]

/// Registers the drill's movies and makes a first reservation, confirmed and messaged: the
/// pipeline is warm.
func prepareMovie(_ cluster: CinemaCluster) async throws {
    for movieId in drillMovies {
        let movie = try await cluster.request(.POST, "/movies", body: #"{"desc":"Drill \#(movieId)"}"#)
        #expect(movie.status == 201)
    }
    // Reservable at once: reservation asks the movie service about a movie it has not seen yet.
    let first = try await cluster.request(.POST, "/reservations", body: #"{"movieId":1}"#)
    #expect(first.status == 201)
    try await waitForReservation(cluster, id: 1, status: "reserved")
    _ = try await eventually("the first confirmation message") { () -> Bool? in
        try await cluster.items("messages").count == 1 ? true : nil
    }
}

extension CinemaCluster {
    /// A member that joins `group` (with kcat) and reads, without ever committing, until it has
    /// taken events from the service, then leaves: two rebalances, and the events it read are the
    /// service's to read again. Reservations keep coming meanwhile (through `keepBusy`), so that
    /// there is something to take. Returns whether it took any (a drill where it took none proves
    /// nothing).
    func joinGroupUntilItTakesEvents(_ group: String, keepBusy: () async throws -> Void) async throws -> Bool {
        let log = directory.appendingPathComponent("kcat-member-\(group).log")
        let member = try ManagedProcess(
            name: "kcat-member-\(group)", executable: Self.kcat,
            arguments: [
                // kcat commits what it printed even with enable.auto.commit=false (tried: a second kcat
                // of the same group starts after it). A member that commits has, by the group's
                // contract, processed those events, so the service rightly never sees them again.
                // With no offset stored this one commits nothing: it joins, takes partitions, reads
                // and leaves, like a new replica that dies before it processed anything.
                "-b", brokerAddress, "-G", group, "-X", "enable.auto.commit=false", "-X", "enable.auto.offset.store=false",
                "-X", "session.timeout.ms=6000",
                "-X", "heartbeat.interval.ms=2000", "cinema",
            ],
            environment: Self.baseEnvironment, logURL: log
        )
        let tookEvents = try? await eventually("the foreign member of \(group) takes events", timeout: .seconds(30)) { () -> Bool? in
            try await keepBusy()
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            return text.contains(#""eventType""#) ? true : nil
        }
        await member.stop()
        return tookEvents == true
    }
}
