import CinemaJSON
import CinemaPolling
import Foundation
import NIOHTTP1
import Testing

extension Drills {
    /// The read-model rebuild, as `make rebuild-view` does it: a second viewpage process reads the
    /// topic from its beginning under a group of its own into a database of its own while the
    /// system runs (reservations keep coming); once it shows what the live view shows, the live
    /// viewpage takes the rebuilt database and goes on from where its group was.
    @Test func theViewRebuiltFromTheTopicEqualsTheLiveView() async throws {
        let count = DrillMode.isFull ? 100 : 40
        try await CinemaCluster.with(environment: Self.timings) { cluster in
            try await prepareMovie(cluster)
            let started = ContinuousClock.now
            var rebuilder: ManagedProcess?
            let rebuildPort = freePort()
            let rebuiltDatabase = cluster.directory.appendingPathComponent("viewpage-rebuild.sqlite")
            let burst = try await cluster.burst(count: count, path: "/reservations", body: Self.reservation, idField: "rsvId") {
                rebuilder = try cluster.launchViewRebuild(port: rebuildPort, database: rebuiltDatabase)
            }
            let rebuildURL = "http://127.0.0.1:\(rebuildPort)"
            let equal = try? await eventually("the rebuilt view equals the live view", timeout: .seconds(90)) { () -> [JSONValue]? in
                let live = try await cluster.viewRows(cluster.gatewayURL)
                let rebuilt = try await cluster.viewRows(rebuildURL)
                return live == rebuilt && live.count == drillMovies.count ? rebuilt : nil
            }
            let rebuildSeconds = (ContinuousClock.now - started).secondsValue
            let rows = equal ?? []

            // The swap: the live viewpage stops; once the rebuild has applied every event the live
            // one had (equal views are not proof: both are empty before either joins its group),
            // the live viewpage takes the rebuilt database and starts again.
            await cluster.stop("viewpage")
            let liveDatabase = cluster.directory.appendingPathComponent("viewpage.sqlite")
            let applied = try await inboxIds(liveDatabase)
            let caughtUp = try? await eventually("the rebuild applied every event the live view had") { () -> Bool? in
                try await applied.isSubset(of: inboxIds(rebuiltDatabase)) ? true : nil
            }
            await rebuilder?.stop()
            try cluster.replaceDatabase(of: "viewpage", with: rebuiltDatabase)
            try await cluster.restart("viewpage")
            let afterSwap = try await cluster.viewRows(cluster.gatewayURL)
            // And it goes on: a reservation made now shows in the view.
            let next = try await cluster.request(.POST, "/reservations", body: #"{"movieId":1}"#)
            let shown = try? await eventually("a reservation after the swap shows in the view") { () -> Bool? in
                guard case .integer(let rsvId)? = next.json?["rsvId"] else { return nil }
                let view = try await cluster.request(.GET, "/movieviews/1")
                return view.json?["rsvId"] == .integer(rsvId) ? true : nil
            }
            DrillFigures(
                drill: "view rebuilt from the topic's beginning during \(count) reservations", sent: burst.sent,
                accepted: burst.acceptedIds.count, confirmed: burst.acceptedIds.count, lost: equal == nil ? rows.count : 0,
                doubled: 0, seconds: rebuildSeconds,
                note:
                    "\(rows.count) rows equal to the live view, \(applied.count) events; after the swap \(afterSwap == rows ? "unchanged" : "DIFFERENT"), "
                    + "and a new reservation \(shown == true ? "shows" : "does NOT show")"
            ).record()
            #expect(equal != nil, "the rebuilt view never equalled the live view")
            #expect(caughtUp == true, "the rebuild never applied every event the live view had")
            #expect(afterSwap == rows)
            #expect(shown == true)
        }
    }
}

/// The ids of the events a service's database has applied (its inbox), read with the sqlite3 CLI
/// (`make setup` installs it), as `make rebuild-view` does.
func inboxIds(_ database: URL) async throws -> Set<String> {
    let output = database.deletingLastPathComponent().appendingPathComponent("inbox-\(UUID().uuidString.prefix(6)).txt")
    let sqlite = try ManagedProcess(
        name: "sqlite3", executable: URL(fileURLWithPath: "/usr/bin/sqlite3"),
        arguments: ["-readonly", database.path, "SELECT messageId FROM inbox"], environment: [:], logURL: output
    )
    _ = try await sqlite.exitStatus(within: .seconds(10))
    defer { try? FileManager.default.removeItem(at: output) }
    return Set(try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map(String.init))
}

extension CinemaCluster {
    /// A viewpage process on `port` with its own database and a consumer group of its own, so it
    /// reads the topic from its beginning.
    func launchViewRebuild(port: Int, database: URL) throws -> ManagedProcess {
        var environment = environment(for: "viewpage")
        environment["PORT"] = String(port)
        environment["DATABASE_PATH"] = database.path
        environment["KAFKA_GROUP_ID"] = "viewpage-rebuild-\(UUID().uuidString.prefix(8))"
        return try ManagedProcess(
            name: "viewpage-rebuild", executable: Self.binaryDirectory.appendingPathComponent("viewpage"),
            environment: environment, logURL: directory.appendingPathComponent("viewpage-rebuild.log")
        )
    }

    /// The view's rows without their links (which name the host they were asked through).
    func viewRows(_ baseURL: String) async throws -> [JSONValue] {
        let reply = try await Self.send(.GET, baseURL + "/movieviews?size=2000", body: nil)
        guard reply.status == 200, case .array(let rows)? = reply.json?["_embedded"]?["movieviews"] else { return [] }
        return rows.map { row in
            guard case .object(let members) = row else { return row }
            return .object(members.filter { $0.0 != "_links" })
        }
    }

    /// Moves `database` (and its write-ahead log, if any) in place of the stopped service's own.
    func replaceDatabase(of name: String, with database: URL) throws {
        let files = FileManager.default
        let target = directory.appendingPathComponent("\(name).sqlite")
        for suffix in ["", "-wal", "-shm"] {
            let old = URL(fileURLWithPath: target.path + suffix)
            if files.fileExists(atPath: old.path) { try files.removeItem(at: old) }
            let new = URL(fileURLWithPath: database.path + suffix)
            if files.fileExists(atPath: new.path) { try files.moveItem(at: new, to: old) }
        }
    }
}
