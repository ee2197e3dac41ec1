import CinemaKit
import Foundation
import Logging
import SQLKit
import Synchronization
import Testing

/// The PostgreSQL store against a real server: `make test` starts one (scripts/postgres.sh) and
/// runs these with `CINEMA_TEST_DATABASE_URL` set; without it they are skipped.
@Suite(.enabled(if: PostgresTestServer.url != nil))
struct PostgresStoreTests {
    /// Two stores on one fresh database: two replicas of a service.
    func twoReplicas(schema: [SchemaStep] = []) async throws -> (PostgresStore, PostgresStore) {
        let server = try #require(PostgresTestServer.url)
        let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await PostgresStore.createDatabase(name, serverURL: server, logger: Logger(label: "test"))
        let url = try PostgresURL.replacingDatabase(in: server, with: name)
        // Started together, as replicas are: the schema lock lets them take turns.
        async let first = PostgresStore.open(url: url, schema: MessagingSchema.steps + schema, logger: Logger(label: "a"))
        async let second = PostgresStore.open(url: url, schema: MessagingSchema.steps + schema, logger: Logger(label: "b"))
        return try await (first, second)
    }

    static let items = [
        SchemaStep("create table item") { database in
            try await database.create(table: "item").ifNotExists().identityColumn("id").column("name", type: .text).run()
        }
    ]

    @Test func aFailedTransactionLeavesNothingAndIdsAreNeverReused() async throws {
        let (store, other) = try await twoReplicas(schema: Self.items)
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await store.transaction { database in
                try await database.insert(into: "item").columns("name").values(SQLBind("lost")).run()
                throw Boom()
            }
        }
        // Ids come from the database, whichever replica inserts: unique across both.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                let replica = index.isMultiple(of: 2) ? store : other
                group.addTask {
                    try await replica.transaction { database in
                        try await database.insert(into: "item").columns("name").values(SQLBind("n\(index)")).run()
                    }
                }
            }
            try await group.waitForAll()
        }
        let ids = try await store.read { database in
            try await database.select().column("id").from("item").all(decodingColumn: "id", as: Int64.self)
        }
        #expect(ids.count == 40 && Set(ids).count == 40)
        #expect(try await store.read { try await $0.select().column("name").from("item").where("name", .equal, "lost").all().count } == 0)
        await store.close()
        await other.close()
    }

    /// Read, change, write back, from two replicas at once: no change is lost.
    @Test func concurrentReadModifyWritesLoseNothing() async throws {
        let counter = [
            SchemaStep("create table counter") { database in
                try await database.create(table: "counter").ifNotExists()
                    .column("id", type: .bigint, .primaryKey(autoIncrement: false)).column("value", type: .bigint, .notNull).run()
                try await database.raw("INSERT INTO counter (id, value) VALUES (1, 0) ON CONFLICT DO NOTHING").run()
            }
        ]
        let (first, second) = try await twoReplicas(schema: counter)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<30 {
                let replica = index.isMultiple(of: 2) ? first : second
                group.addTask {
                    try await replica.transaction { database in
                        let value =
                            try await database.select().column("value").from("counter")
                            .first(decodingColumn: "value", as: Int64.self) ?? 0
                        try await database.update("counter").set("value", to: SQLBind(value + 1)).run()
                    }
                }
            }
            try await group.waitForAll()
        }
        let value = try await first.read { database in
            try await database.select().column("value").from("counter").first(decodingColumn: "value", as: Int64.self)
        }
        #expect(value == 30)
        await first.close()
        await second.close()
    }

    @Test func onlyOneReplicaLeadsAtATime() async throws {
        let (first, second) = try await twoReplicas()
        let tally = LeaderTally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<20 {
                let replica = index.isMultiple(of: 2) ? first : second
                group.addTask {
                    _ = try await replica.whileLeading("outbox-relay") {
                        tally.enter()
                        try await Task.sleep(for: .milliseconds(20))
                        tally.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(tally.mostAtOnce == 1, "two replicas led at once")
        #expect(tally.runs >= 1)
        // Once released, the other replica leads.
        #expect(try await second.whileLeading("outbox-relay") { true } == true)
        await first.close()
        await second.close()
    }

    @Test func theLedgerAppliesEachStepOnce() async throws {
        let tally = LeaderTally()
        let step = SchemaStep("count the runs") { _ in tally.enter() }
        let (first, second) = try await twoReplicas(schema: [step])
        #expect(tally.runs == 1)
        await first.close()
        await second.close()
    }
}

/// How many ran inside a section at once, and how often.
final class LeaderTally: Sendable {
    private let state = Mutex((inside: 0, mostAtOnce: 0, runs: 0))

    func enter() {
        state.withLock { state in
            state.inside += 1
            state.runs += 1
            state.mostAtOnce = max(state.mostAtOnce, state.inside)
        }
    }

    func leave() { state.withLock { $0.inside -= 1 } }
    var mostAtOnce: Int { state.withLock { $0.mostAtOnce } }
    var runs: Int { state.withLock { $0.runs } }
}

enum PostgresTestServer {
    static var url: String? {
        ProcessInfo.processInfo.environment["CINEMA_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }
}
