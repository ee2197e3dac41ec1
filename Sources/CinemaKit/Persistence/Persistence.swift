public import CinemaEvents
public import SQLKit

/// A service's store plus the outbox hook: every transaction can record events, and once it has
/// committed the relay is told there is something to publish.
public struct Persistence: Sendable {
    public let store: any Store
    private let eventsCommitted: @Sendable () -> Void
    private let waitForPublication: @Sendable (_ throughSeq: Int64, _ timeout: Duration) async -> Bool

    public init(
        store: any Store,
        eventsCommitted: @escaping @Sendable () -> Void = {},
        waitForPublication: @escaping @Sendable (_ throughSeq: Int64, _ timeout: Duration) async -> Bool = { _, _ in false }
    ) {
        self.store = store
        self.eventsCommitted = eventsCommitted
        self.waitForPublication = waitForPublication
    }

    /// Runs `body` in one transaction with an event recorder on the same transaction.
    ///
    /// With `awaitingPublication`, returns only once the broker has acknowledged the events
    /// recorded (or the time is up: they are committed and will go out, just later). The payment
    /// service uses this so PaymentApproved is on the topic before the reservation it pays for is
    /// created, the order the original's event log shows.
    public func transaction<Result: Sendable>(
        metadata: EventMetadata,
        awaitingPublication timeout: Duration? = nil,
        _ body: @Sendable (any SQLDatabase, EventRecorder) async throws -> Result
    ) async throws -> Result {
        let (result, lastSeq) = try await store.transaction { database in
            let recorder = EventRecorder(database: database, metadata: metadata)
            let result = try await body(database, recorder)
            return (result, recorder.lastRecordedSeq)
        }
        if let lastSeq {
            eventsCommitted()
            if let timeout { _ = await waitForPublication(lastSeq, timeout) }
        }
        return result
    }

    public func read<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await store.read(body)
    }

    /// `body` runs exactly one statement (see `Store.readSingleStatement`).
    public func readSingleStatement<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await store.readSingleStatement(body)
    }
}
