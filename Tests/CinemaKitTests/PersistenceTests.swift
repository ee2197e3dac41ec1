import CinemaEvents
import CinemaJSON
import CinemaPolling
import Foundation
import Logging
import SQLKit
import Synchronization
import Testing

@testable import CinemaKit

/// A real SQLite file in a fresh temporary folder.
func temporaryStore(schema: [SchemaStep] = [], readerCount: Int = 2) async throws -> SQLiteStore {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cinema-test-\(UUID().uuidString).sqlite").path
    return try await SQLiteStore.open(
        path: path, schema: MessagingSchema.steps + schema, logger: Logger(label: "test"), readerCount: readerCount)
}

let counterSchema = [
    SchemaStep("create table counter") { database in
        try await database.create(table: "counter").ifNotExists()
            .column("id", type: .bigint, .primaryKey(autoIncrement: false))
            .column("value", type: .bigint, .notNull)
            .run()
        try await database.raw("INSERT OR IGNORE INTO counter (id, value) VALUES (1, 0)").run()
    }
]

func counterValue(_ store: some Store) async throws -> Int64 {
    try await store.read { database in
        try await database.select().column("value").from("counter").first(decodingColumn: "value", as: Int64.self) ?? -1
    }
}

/// What a concurrent read saw, once it has read.
final class ReadResult: Sendable {
    let value = Mutex<Int64?>(nil)
}

@Suite struct StoreTests {
    /// A write transaction held open (as one waiting for its fsync is): reads on the reader connections go on beside it
    /// and see the last commit; with no readers they wait for it, as every read did before readers existed.
    @Test(arguments: [2, 0])
    func readsGoOnBesideAnOpenWriteOnlyWithReaders(readerCount: Int) async throws {
        let store = try await temporaryStore(schema: counterSchema, readerCount: readerCount)
        try await store.transaction { try await $0.raw("UPDATE counter SET value = 1").run() }
        let (release, releaseSignal) = AsyncStream<Void>.makeStream()
        let (begun, begunSignal) = AsyncStream<Void>.makeStream()
        let readDuringWrite = ReadResult()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await store.transaction { database in
                    try await database.raw("UPDATE counter SET value = 2").run()
                    begunSignal.finish()
                    for await _ in release {}
                }
            }
            for await _ in begun {}
            group.addTask {
                let value = try await counterValue(store)
                readDuringWrite.value.withLock { $0 = value }
            }
            if readerCount > 0 {
                let value = try await eventually("a read beside the open write", timeout: .seconds(10)) {
                    readDuringWrite.value.withLock { $0 }
                }
                #expect(value == 1, "the last commit, not the open transaction's change")
            } else {
                // Queued behind the writer, and still without a value.
                try await waitUntil("the read waits for the writer's connection", timeout: .seconds(10)) {
                    store.unitsOfWorkWaitingForTheWriter == 1
                }
                #expect(readDuringWrite.value.withLock { $0 } == nil)
            }
            releaseSignal.finish()
            try await group.waitForAll()
            // Without readers it ran after the commit, and saw it.
            if readerCount == 0 { #expect(readDuringWrite.value.withLock { $0 } == 2) }
        }
        #expect(try await counterValue(store) == 2)
        await store.close()
    }

    @Test func aReadThatTriesToWriteFailsAndWritesNothing() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        await #expect(throws: (any Error).self) {
            try await store.read { try await $0.raw("UPDATE counter SET value = 9").run() }
        }
        await #expect(throws: (any Error).self) {
            try await store.readSingleStatement { try await $0.raw("UPDATE counter SET value = 9").run() }
        }
        #expect(try await counterValue(store) == 0)
    }

    /// A single-statement read outside a transaction sees the last commit, beside an open write too, on both
    /// connection layouts; the store stays usable for transactions after it.
    @Test(arguments: [2, 0])
    func aSingleStatementReadSeesTheLastCommit(readerCount: Int) async throws {
        let store = try await temporaryStore(schema: counterSchema, readerCount: readerCount)
        let value = { @Sendable in
            try await store.readSingleStatement { database in
                try await database.select().column("value").from("counter").first(decodingColumn: "value", as: Int64.self)
            }
        }
        #expect(try await value() == 0)
        try await store.transaction { try await $0.raw("UPDATE counter SET value = 5").run() }
        #expect(try await value() == 5)
        try await store.transaction { try await $0.raw("UPDATE counter SET value = 6").run() }
        #expect(try await value() == 6)
    }

    /// Many reads at once on two readers: each gets a reader of its own, none is lost or shared, and closing waits for
    /// them and refuses later ones.
    @Test func manyConcurrentReadsShareTheReadersAndCloseWaitsForThem() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        let values = try await withThrowingTaskGroup(of: Int64.self) { group in
            for _ in 0..<200 { group.addTask { try await counterValue(store) } }
            return try await group.reduce(into: [Int64]()) { $0.append($1) }
        }
        #expect(values.count == 200 && values.allSatisfy { $0 == 0 })
        await store.close()
        await #expect(throws: StoreError.self) { try await counterValue(store) }
    }

    @Test func concurrentTransactionsDoNotInterleave() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        // Read-modify-write with a suspension in between: lost updates if transactions interleaved.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await store.transaction { database in
                        let value =
                            try await database.select().column("value").from("counter")
                            .first(decodingColumn: "value", as: Int64.self) ?? 0
                        await Task.yield()
                        try await database.update("counter").set("value", to: SQLBind(value + 1)).run()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await counterValue(store) == 50)
        await store.close()
    }

    @Test func aFailedTransactionLeavesNothingBehind() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await store.transaction { database in
                try await database.update("counter").set("value", to: SQLBind(Int64(99))).run()
                try await OutboxRepository.enqueue(
                    MovieRegistered(Movie(movieId: 1, status: .available, desc: nil, reviewCnt: 0, lastAction: .register)),
                    metadata: .newCorrelation(), on: database
                )
                throw Boom()
            }
        }
        #expect(try await counterValue(store) == 0)
        #expect(try await store.read { try await OutboxRepository.count(on: $0) } == 0)
        await store.close()
    }

    @Test func aCancelledTransactionRollsBackAndLeavesTheStoreUsable() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        let started = Mutex(false)
        let cancelled = Task {
            try await store.transaction { database in
                try await database.update("counter").set("value", to: SQLBind(Int64(99))).run()
                started.withLock { $0 = true }
                while !Task.isCancelled { await Task.yield() }
                // Refused for a cancelled task: the transaction fails and must be rolled back.
                try await database.update("counter").set("value", to: SQLBind(Int64(100))).run()
            }
        }
        while !started.withLock({ $0 }) { await Task.yield() }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(try await counterValue(store) == 0)
        try await store.transaction { try await $0.update("counter").set("value", to: SQLBind(Int64(1))).run() }
        #expect(try await counterValue(store) == 1)
        await store.close()
    }

    @Test func identityColumnsNeverReuseAnId() async throws {
        let store = try await temporaryStore(schema: [
            SchemaStep("create table item") {
                try await $0.create(table: "item").ifNotExists().identityColumn("id").column("name", type: .text).run()
            }
        ])
        func insert() async throws -> Int64 {
            try await store.transaction { database in
                try await database.insert(into: "item").columns("name").values(SQLBind("x")).returning("id")
                    .first(decodingColumn: "id", as: Int64.self) ?? -1
            }
        }
        let first = try await insert()
        try await store.transaction { try await $0.delete(from: "item").run() }
        let second = try await insert()
        #expect(second == first + 1)
        await store.close()
    }

    @Test func reopeningKeepsDataAndSchemaIsIdempotent() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cinema-reopen-\(UUID().uuidString).sqlite").path
        let store = try await SQLiteStore.open(path: path, schema: counterSchema, logger: Logger(label: "test"))
        try await store.transaction { try await $0.update("counter").set("value", to: SQLBind(Int64(7))).run() }
        await store.close()
        let reopened = try await SQLiteStore.open(path: path, schema: counterSchema, logger: Logger(label: "test"))
        #expect(try await counterValue(reopened) == 7)
        #expect(await reopened.isHealthy())
        await reopened.close()
    }
}
