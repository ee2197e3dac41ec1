import CinemaEvents
import CinemaHTTP
import CinemaJSON
import CinemaKit
import Foundation
import SQLKit
import Synchronization

/// What the dashboard streams: a `movieview` event with a movie's row after viewpage's consumer changed it (`row` null
/// once deleted), and a `cinema` event for every event read from the topic (type, key, time, trace id).
///
/// Each replica streams what its own consumer applied (see README "Dashboard" for what that means with replicas).
final class DashboardStream: Sendable {
    let hub: EventStreamHub
    let persistence: Persistence
    let handledTypes: Set<String>
    /// The latest events read from the topic, newest last, for snapshots.
    private let feed = Mutex<[JSONValue]>([])
    static let feedLength = 50

    init(persistence: Persistence, handledTypes: Set<String>, hub: EventStreamHub = EventStreamHub()) {
        self.persistence = persistence
        self.handledTypes = handledTypes
        self.hub = hub
    }

    /// The consumer's observer: runs after the message's transaction committed.
    func observe(_ message: IncomingMessage, outcome: ProcessingOutcome) async {
        let entry = Self.feedEntry(message)
        feed.withLock { feed in
            feed.append(entry)
            if feed.count > Self.feedLength { feed.removeFirst(feed.count - Self.feedLength) }
        }
        hub.publish(name: "cinema", data: String(decoding: entry.serialized(), as: UTF8.self))
        guard outcome == .applied, let type = entry["type"], case .string(let eventType) = type, handledTypes.contains(eventType),
            let movieId = Self.movieId(of: message)
        else { return }
        // Read after the commit: the row as this event left it (the consumer applies the next one only after this).
        let row = try? await persistence.read { try await MovieViewRepository.find(movieId, on: $0) }
        let rowJSON: JSONValue = (try? row.map { try JSONValueEncoder().encode($0) }) ?? .null
        hub.publish(
            name: "movieview",
            data: String(decoding: JSONValue.object([("movieId", .integer(movieId)), ("row", rowJSON)]).serialized(), as: UTF8.self))
    }

    /// Every row and the latest events, as the page starts or catches up.
    func snapshot() async throws -> String {
        let rows = try await persistence.read { database in
            try await database.select().column("*").from(MovieViewRepository.table.name).orderBy("movieId").all(decoding: MovieView.self)
        }
        let encoder = JSONValueEncoder()
        let movies = try rows.map { try encoder.encode($0) }
        let events = feed.withLock { $0 }
        return String(decoding: JSONValue.object([("movies", .array(movies)), ("events", .array(events))]).serialized(), as: UTF8.self)
    }

    /// Type, Kafka key, time, trace id (from a W3C `traceparent` header when there is one, else the correlation id),
    /// and where it was read.
    static func feedEntry(_ message: IncomingMessage) -> JSONValue {
        let head = try? EventEnvelopeHead.decode(fromJSON: message.value)
        let timestamp = (try? JSONValue.parse(message.value))?["timestamp"]
        return .object([
            ("type", .string(head?.eventType ?? message.headers[MessageHeader.eventType] ?? "?")),
            ("key", .string(message.key.map { String(decoding: $0, as: UTF8.self) })),
            ("time", timestamp ?? .null),
            ("traceId", .string(traceID(message.headers))),
            ("partition", .integer(Int64(message.partition))),
            ("offset", .integer(message.offset)),
        ])
    }

    /// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`: the trace id when well-formed, else the correlation id.
    static func traceID(_ headers: [String: String]) -> String? {
        if let traceparent = headers["traceparent"] {
            let parts = traceparent.split(separator: "-", omittingEmptySubsequences: false)
            if parts.count >= 4, parts[1].count == 32, parts[1].allSatisfy(\.isHexDigit), parts[1] != String(repeating: "0", count: 32) {
                return String(parts[1])
            }
        }
        return headers[MessageHeader.correlationId]
    }

    /// Every event the view handles is keyed by its movie; the JSON's `movieId` says which.
    static func movieId(of message: IncomingMessage) -> Int64? {
        guard case .integer(let id)? = (try? JSONValue.parse(message.value))?["movieId"] else { return nil }
        return id
    }
}
