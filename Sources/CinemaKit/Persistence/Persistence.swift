public import SQLKit

/// A service's store plus the outbox hook: every transaction can record events, and once it has
/// committed the relay is told there is something to publish.
public struct Persistence: Sendable {
    public let store: any Store
    private let eventsCommitted: @Sendable () -> Void

    public init(store: any Store, eventsCommitted: @escaping @Sendable () -> Void = {}) {
        self.store = store
        self.eventsCommitted = eventsCommitted
    }

    public func transaction<Result: Sendable>(
        metadata: EventMetadata,
        _ body: @Sendable (any SQLDatabase, EventRecorder) async throws -> Result
    ) async throws -> Result {
        let result = try await store.transaction { database in
            try await body(database, EventRecorder(database: database, metadata: metadata))
        }
        eventsCommitted()
        return result
    }

    public func read<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await store.read(body)
    }
}
