import Dispatch
public import Logging
import NIOCore
import NIOPosix
public import SQLKit
import SQLiteKit

/// A SQLite connection with a serial queue of its own, on which every unit of work given to `run` executes, statements
/// included, without leaving it.
///
/// Why not SQLiteNIO's connection: it sends each statement to a shared thread pool and resumes the caller on Swift's
/// cooperative pool, two thread switches per statement, so a transaction of five statements cost ten, and under a
/// reservation's load the machine spent more time switching threads than in SQLite (perf/README.md). Here the caller
/// hops onto the connection's queue once, runs the whole unit of work there, with every statement a plain function
/// call, and hops back once. Blocking (a commit's fsync, a busy wait) happens on that queue, never on the cooperative
/// pool. SQLKit's `SQLDatabase` stays the interface the repositories are written against.
///
/// The caller guarantees one unit of work at a time per connection (the store's locks): the queue orders the jobs of
/// one unit of work, it does not keep two units from interleaving at their `await`s.
public final class DedicatedSQLiteConnection: Sendable {
    private let handle: SQLiteHandle
    private let executor: SerialQueueExecutor
    /// What the unit of work's statements go through.
    public let database: any SQLDatabase

    private init(handle: SQLiteHandle, executor: SerialQueueExecutor, logger: Logger) {
        self.handle = handle
        self.executor = executor
        self.database = DedicatedSQLiteDatabase(handle: handle, logger: logger)
    }

    /// Opens (creating it if needed) the file at `path`; `label` names the connection's queue (seen in a profile).
    public static func open(path: String, label: String, logger: Logger) async throws -> DedicatedSQLiteConnection {
        let executor = SerialQueueExecutor(label: label)
        let handle = try await withTaskExecutorPreference(executor) { () async throws(SQLiteFailure) -> SQLiteHandle in
            try SQLiteHandle(path: path)
        }
        return DedicatedSQLiteConnection(handle: handle, executor: executor, logger: logger)
    }

    /// Runs `work` on this connection's queue. The caller holds the connection alone for the duration.
    public func run<Result: Sendable>(_ work: @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        try await withTaskExecutorPreference(executor) { try await work(database) }
    }

    /// Runs `work` between `begin` and COMMIT, or ROLLBACK when it throws, on this connection's queue. The frame's own
    /// statements run whatever the task's state: a refused ROLLBACK would leave the connection inside the transaction.
    public func transaction<Result: Sendable>(
        begin: String, _ work: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await withTaskExecutorPreference(executor) {
            try handle.execute(begin, binds: []) { _ in }
            do {
                let result = try await work(database)
                try handle.execute("COMMIT", binds: []) { _ in }
                return result
            } catch {
                try? handle.execute("ROLLBACK", binds: []) { _ in }
                throw error
            }
        }
    }

    /// Closes the connection once the unit of work in progress, if any, has returned (the caller's locks see to it).
    public func close() async {
        await withTaskExecutorPreference(executor) { handle.close() }
    }
}

/// Runs a task's jobs on one serial Dispatch queue (a task executor preference), like the Kafka module's queues for
/// librdkafka's blocking calls.
final class SerialQueueExecutor: TaskExecutor {
    private let queue: DispatchQueue

    /// Names the queue a job runs on, for tests to see where a unit of work ran.
    private static let labelKey = DispatchSpecificKey<String>()

    init(label: String) {
        queue = DispatchQueue(label: label)
        queue.setSpecific(key: Self.labelKey, value: label)
    }

    /// The label of the executor's queue the caller runs on, if it runs on one.
    static var currentLabel: String? { DispatchQueue.getSpecific(key: labelKey) }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

/// SQLKit's view of a dedicated connection: statements run synchronously on the calling thread (the connection's
/// queue, under `DedicatedSQLiteConnection.run`). Like SQLiteNIO, it refuses statements for a cancelled task.
struct DedicatedSQLiteDatabase: SQLDatabase {
    let handle: SQLiteHandle
    let logger: Logger

    var eventLoop: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }
    var version: (any SQLDatabaseReportedVersion)? { nil }
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { nil }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try Task.checkCancellation()
        try run(query, onRow)
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        eventLoop.makeCompletedFuture { try run(query, onRow) }
    }

    private func run(_ query: any SQLExpression, _ onRow: (any SQLRow) -> Void) throws {
        var serializer = SQLSerializer(database: self)
        query.serialize(to: &serializer)
        let encoder = SQLiteDataEncoder()
        let binds = try serializer.binds.map { try encoder.encode($0) }
        try handle.execute(serializer.sql, binds: binds) { row in onRow(row) }
    }
}

/// One result row: its statement's column names and this row's values.
struct SQLiteResultRow: SQLRow {
    let columns: SQLiteColumns
    let values: [SQLiteData]

    var allColumns: [String] { columns.names }

    func contains(column: String) -> Bool { columns.index(of: column) != nil }

    func decodeNil(column: String) throws -> Bool {
        guard let index = columns.index(of: column) else { return true }
        return values[index] == .null
    }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        guard let index = columns.index(of: column) else {
            throw DecodingError.keyNotFound(
                ColumnName(stringValue: column), .init(codingPath: [], debugDescription: "no column \(column) in \(columns.names)"))
        }
        return try SQLiteDataDecoder().decode(D.self, from: values[index])
    }
}

private struct ColumnName: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
