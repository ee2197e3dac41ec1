import CinemaEvents
import CinemaHTTP
import CinemaJSON
import CinemaKit
import Foundation
import Logging
import SQLKit
import Synchronization

/// What the dashboard streams: a `movieview` event with a movie's row after viewpage's consumer changed it (`row` null
/// once deleted), and a `cinema` event for every event read from the topic (type, key, time, trace id).
///
/// Replicas on PostgreSQL split the topic's partitions, so each applies only some movies' events; a browser connected
/// to one must still see every change. There each change goes through the database (`StoreBroadcasting`, NOTIFY) and
/// every replica's `DashboardListener` streams what any replica applied. On SQLite the one process streams its own.
final class DashboardStream: Sendable {
    let hub: EventStreamHub
    let persistence: Persistence
    let handledTypes: Set<String>
    let logger: Logger
    /// The shared database's channel, when replicas share one.
    let broadcasting: (any StoreBroadcasting)?
    /// The latest events read from the topic, newest last, for snapshots.
    private let feed = Mutex<[JSONValue]>([])
    static let feedLength = 50
    /// One channel per database: a rebuilt view (make rebuild-view) has a database of its own and hears only itself.
    static let channel = "cinema_dashboard"
    /// Longer keys, type names, times and ids are cut in the feed: they come from whoever produced the message, and a
    /// change must fit in one notification.
    static let maxFieldLength = 128

    init(persistence: Persistence, handledTypes: Set<String>, logger: Logger, hub: EventStreamHub = EventStreamHub()) {
        self.persistence = persistence
        self.handledTypes = handledTypes
        self.logger = logger
        self.hub = hub
        self.broadcasting = persistence.store as? any StoreBroadcasting
    }

    /// One change as it travels between replicas: the feed entry and, when the view applied it, the movie to read.
    struct Change: Equatable {
        var entry: JSONValue
        var movieId: Int64?

        var json: String {
            String(
                decoding: JSONValue.object([("entry", entry), ("movieId", movieId.map { .integer($0) } ?? .null)]).serialized(),
                as: UTF8.self)
        }

        init(entry: JSONValue, movieId: Int64?) {
            self.entry = entry
            self.movieId = movieId
        }

        init?(json: String) {
            guard let value = try? JSONValue.parse(Array(json.utf8)), let entry = value["entry"], case .object = entry else { return nil }
            self.entry = entry
            if case .integer(let id)? = value["movieId"] { self.movieId = id } else { self.movieId = nil }
        }
    }

    /// The consumer's observer: runs after the message's transaction committed.
    func observe(_ message: IncomingMessage, outcome: ProcessingOutcome) async {
        let entry = Self.feedEntry(message)
        var movieId: Int64?
        if outcome == .applied, case .string(let eventType)? = entry["type"], handledTypes.contains(eventType) {
            movieId = Self.movieId(of: message)
        }
        let change = Change(entry: entry, movieId: movieId)
        if let broadcasting {
            do {
                try await broadcasting.broadcast(change.json, on: Self.channel)
                return
            } catch {
                // This replica's browsers at least hear of it; the others' see it with their next snapshot.
                logger.warning(
                    "dashboard change not broadcast; streamed on this replica only",
                    metadata: ["error.message": "\(String(reflecting: error))"])
            }
        }
        await deliver(change)
    }

    /// A change heard from the database (any replica's, this one's included).
    func received(_ payload: String) async {
        guard let change = Change(json: payload) else {
            logger.warning("unreadable dashboard notification ignored", metadata: ["dashboard.payload.bytes": "\(payload.utf8.count)"])
            return
        }
        await deliver(change)
    }

    /// After (re)starting to listen: changes broadcast while nobody listened were not heard, so every open page gets the
    /// whole state again (the page replaces its table on a `snapshot` event).
    func resynchronize() async {
        guard hub.subscriberCount > 0 else { return }
        do {
            hub.publish(name: "snapshot", data: try await snapshot())
        } catch {
            logger.warning("dashboard snapshot after reconnecting failed", metadata: ["error.message": "\(String(reflecting: error))"])
        }
    }

    /// To this replica's browsers: the feed entry, then the movie's row as it is now (read after the commit: a later
    /// change of the same movie sends the newer row again, so pages converge on the database).
    func deliver(_ change: Change) async {
        feed.withLock { feed in
            feed.append(change.entry)
            if feed.count > Self.feedLength { feed.removeFirst(feed.count - Self.feedLength) }
        }
        hub.publish(name: "cinema", data: String(decoding: change.entry.serialized(), as: UTF8.self))
        guard let movieId = change.movieId else { return }
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
        // A string, as every event's is; anything else a producer wrote there is not shown.
        let timestamp: String? =
            if case .string(let text)? = (try? JSONValue.parse(message.value))?["timestamp"] { String(text.prefix(maxFieldLength)) } else {
                nil
            }
        return .object([
            ("type", .string(String((head?.eventType ?? message.headers[MessageHeader.eventType] ?? "?").prefix(maxFieldLength)))),
            ("key", .string(message.key.map { String(String(decoding: $0, as: UTF8.self).prefix(maxFieldLength)) })),
            ("time", .string(timestamp)),
            ("traceId", .string(traceID(message.headers).map { String($0.prefix(maxFieldLength)) })),
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
