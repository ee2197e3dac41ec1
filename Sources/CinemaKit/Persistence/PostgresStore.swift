import Foundation
public import Logging
import PostgresKit
public import SQLKit
import Synchronization

/// A PostgreSQL database shared by every replica of a service: a pool of connections, one per
/// unit of work.
///
/// The repositories are the same as on SQLite (SQLKit); what differs is how a unit of work gets
/// its session, and that replicas need a way to agree on who does what only one may do at a time
/// (`whileLeading`: the outbox relay, whose one movie's events must stay in order, and the
/// payment reconciler).
public final class PostgresStore: Store, StoreBroadcasting {
    private let client: PostgresClient
    /// The pool serves only while `run()` runs; the store owns that task and ends it on close.
    private let runner: Task<Void, Never>
    private let logger: Logger
    private let isClosed = Mutex(false)

    private init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        self.runner = Task { await client.run() }
    }

    /// Connects to `url` (`postgres://user:password@host:port/database`, optional
    /// `?sslmode=disable|prefer|require`) and applies `schema` in one transaction. Replicas that
    /// start together take turns at the schema (an advisory lock), since two concurrent
    /// `CREATE TABLE IF NOT EXISTS` of one table can fail in PostgreSQL.
    public static func open(
        url: String, schema: [SchemaStep], logger: Logger, maximumConnections: Int = 10
    ) async throws
        -> PostgresStore
    {
        var configuration = try PostgresURL(url).clientConfiguration
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        let store = PostgresStore(client: PostgresClient(configuration: configuration, backgroundLogger: logger), logger: logger)
        do {
            try await store.transaction { database in
                try await database.raw("SELECT pg_advisory_xact_lock(hashtext('cinema-schema'))").run()
                try await SchemaStep.migrate(schema, on: database)
            }
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    /// Creates database `name` on the server `serverURL` names (tests: one database each).
    /// `CREATE DATABASE` cannot run inside a transaction, hence a connection of its own.
    public static func createDatabase(_ name: String, serverURL: String, logger: Logger) async throws {
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw StoreError.invalidDatabaseURL("not a plain database name: \(name)")
        }
        let client = PostgresClient(configuration: try PostgresURL(serverURL).clientConfiguration, backgroundLogger: logger)
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        try await client.withConnection { connection in
            try await connection.sql().raw("CREATE DATABASE \(unsafeRaw: name)").run()
        }
    }

    /// SERIALIZABLE, retried when PostgreSQL detects a conflict: the repositories read a row,
    /// change it and write it back (a movie's seats, a review count), and two replicas, or two
    /// requests in one, doing so at once must not lose one of the changes. SQLite gets the same
    /// guarantee from its single writer. `body` may run again: it only touches the database.
    public func transaction<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        var attempt = 1
        while true {
            do {
                return try await unitOfWork(begin: "BEGIN ISOLATION LEVEL SERIALIZABLE", body)
            } catch let error as PSQLError where Self.isConflict(error) && attempt < Self.conflictAttempts {
                attempt += 1
                // Spread the retries, so the transactions that collided do not collide again
                // (jittered, growing, capped at 200 ms).
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...min(200, 5 * attempt * attempt))))
            }
        }
    }

    /// Enough for a hot row under heavy contention (each round, one of the colliding commits).
    static let conflictAttempts = 50

    /// serialization_failure and deadlock_detected: nothing was written, the work can be redone.
    static func isConflict(_ error: PSQLError) -> Bool {
        ["40001", "40P01"].contains(error.serverInfo?[.sqlState] ?? "")
    }

    /// One snapshot for every statement in `body` (READ COMMITTED would give each its own).
    public func read<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await unitOfWork(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    /// Runs `body` only if no other replica is running it under the same `name` right now, and
    /// keeps the others out until it returns: a transaction-scoped advisory lock held on a
    /// connection of its own. A replica that dies loses its connection, and with it the lock; a
    /// frozen one keeps it, so two never act at once. Returns nil when another holds it.
    public func whileLeading<Result: Sendable>(_ name: String, _ body: @Sendable () async throws -> Result) async throws -> Result? {
        try await unitOfWork(begin: "BEGIN") { database in
            let row = try await database.raw("SELECT pg_try_advisory_xact_lock(hashtext(\(bind: name))) AS leading").first()
            guard try row?.decode(column: "leading", as: Bool.self) == true else { return nil }
            return try await body()
        }
    }

    private func unitOfWork<Result: Sendable>(
        begin: String,
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        guard !isClosed.withLock({ $0 }) else { throw StoreError.closed }
        return try await client.withConnection { connection in
            try await connection.sql().inTransaction(begin: begin, body)
        }
    }

    /// NOTIFY/LISTEN: in its own statement on a pooled connection, delivered to every listening session of this
    /// database (replicas included) in commit order.
    public func broadcast(_ payload: String, on channel: String) async throws {
        guard !isClosed.withLock({ $0 }) else { throw StoreError.closed }
        try await client.withConnection { connection in
            _ = try await connection.query("SELECT pg_notify(\(channel), \(payload))", logger: logger).collect()
        }
    }

    /// Holds one pooled connection for as long as it listens; UNLISTEN when the caller stops.
    public func listen(
        on channel: String, listening: @Sendable () async -> Void, receive: @Sendable (String) async -> Void
    ) async throws {
        guard !isClosed.withLock({ $0 }) else { throw StoreError.closed }
        try await client.withConnection { connection in
            try await connection.listen(on: channel) { notifications in
                await listening()
                for try await notification in notifications {
                    await receive(notification.payload)
                }
            }
        }
    }

    public func isHealthy() async -> Bool {
        do {
            return try await read { database in try await database.raw("SELECT 1 AS ok").first() != nil }
        } catch {
            return false
        }
    }

    /// Later units of work are refused; the pool closes its connections once the ones in use
    /// come back.
    public func close() async {
        let wasClosed = isClosed.withLock { closed in
            defer { closed = true }
            return closed
        }
        guard !wasClosed else { return }
        runner.cancel()
        await runner.value
    }
}

/// `postgres://user:password@host:port/database?sslmode=…`, the form libpq and every
/// Kubernetes example use.
public struct PostgresURL: Sendable {
    let clientConfiguration: PostgresClient.Configuration

    /// The URL without its password, for logs.
    public static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? "(unreadable)"
    }

    /// The same server, another database.
    public static func replacingDatabase(in text: String, with database: String) throws -> String {
        guard var components = URLComponents(string: text) else {
            throw StoreError.invalidDatabaseURL("DATABASE_URL must look like postgres://user:password@host:5432/database")
        }
        components.path = "/" + database
        return components.string ?? text
    }

    init(_ text: String) throws {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty
        else {
            throw StoreError.invalidDatabaseURL("DATABASE_URL must look like postgres://user:password@host:5432/database")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let tls: PostgresClient.Configuration.TLS
        switch components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable" {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-full": tls = .require(.makeClientConfiguration())
        case let other: throw StoreError.invalidDatabaseURL("DATABASE_URL sslmode \(other) is not one of disable, prefer, require")
        }
        clientConfiguration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: tls
        )
    }
}
