public import CinemaEvents
import CinemaTracing
public import SQLKit
import Synchronization

/// Records events in the same transaction as the state change that causes them.
public struct EventRecorder: Sendable {
    let database: any SQLDatabase
    public let metadata: EventMetadata
    private let lastSeq = LastRecordedSeq()

    public init(database: any SQLDatabase, metadata: EventMetadata) {
        self.database = database
        self.metadata = metadata
    }

    public func record(_ event: some OutgoingEvent) async throws {
        // The span this runs in (the request's, or the handler's of the event that caused it) is the event's parent.
        let seq = try await OutboxRepository.enqueue(
            event, metadata: metadata, traceParent: .current, on: database)
        lastSeq.value.withLock { $0 = max($0 ?? seq, seq) }
    }

    /// The outbox position of the last event recorded, if any.
    public var lastRecordedSeq: Int64? { lastSeq.value.withLock { $0 } }
}

/// Shared by the copies of one transaction's recorder.
private final class LastRecordedSeq: Sendable {
    let value = Mutex<Int64?>(nil)
}
