import CinemaEvents
import CinemaHTTP
import CinemaJSON
import CinemaKit
import CinemaTesting
import Foundation
import Logging
import SQLKit
import Testing

@testable import ViewpageService

/// What viewpage's consumer tells the dashboard: every event read (for the feed) and, after its commit, the row it
/// changed.
@Suite struct DashboardStreamTests {
    func message<Kind: EventKind>(_ event: Event<Kind>, headers: [String: String] = [:]) throws -> IncomingMessage {
        IncomingMessage(
            topic: "cinema", partition: 2, offset: 7, key: Array(String(event.movieId).utf8), value: try event.encodedJSON(),
            headers: headers.merging([MessageHeader.messageId: UUID().uuidString]) { first, _ in first })
    }

    func frames(_ subscription: EventStreamHub.Subscription, _ count: Int) async -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        for await frame in subscription.frames {
            if case .event(let event) = frame { events.append(event) }
            if events.count == count { break }
        }
        return events
    }

    static func stream(_ service: TestService, hub: EventStreamHub = EventStreamHub()) -> DashboardStream {
        DashboardStream(
            persistence: service.persistence, handledTypes: ViewpagePolicies.handlers.eventTypes, logger: Logger(label: "test.dashboard"),
            hub: hub)
    }

    /// `stream` as the service runs it, with `subscription` open on it: on a shared database (make test's PostgreSQL
    /// pass) with its listener running, in effect once the subscriber got the snapshot the listener sends on listening.
    func whileListening(
        _ stream: DashboardStream, _ subscription: EventStreamHub.Subscription, _ body: () async throws -> Void
    ) async throws {
        guard let broadcasting = stream.broadcasting else { return try await body() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await DashboardListener(stream: stream, broadcasting: broadcasting).run() }
            for await frame in subscription.frames {
                if case .event(let event) = frame, event.name == "snapshot" { break }
            }
            try await body()
            group.cancelAll()
        }
    }

    @Test func anAppliedEventStreamsTheRowAsCommittedAndTheFeedEntry() async throws {
        let service = try await TestService(ViewpageService.definition)
        let stream = Self.stream(service)
        let subscription = try #require(stream.hub.subscribe(lastEventID: nil))
        try await whileListening(stream, subscription) {
            let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
            let registered = try message(
                MovieRegistered(Movie(movieId: 1, status: .available, desc: "<b>m</b>", reviewCnt: 0, lastAction: .register)),
                headers: ["traceparent": "00-\(traceID)-00f067aa0ba902b7-01", MessageHeader.correlationId: "corr-1"])
            let outcome = await service.processor.process(registered)
            #expect(outcome == .applied)
            await stream.observe(registered, outcome: outcome)

            let events = await frames(subscription, 2)
            #expect(events.map(\.name) == ["cinema", "movieview"])
            let feed = try JSONValue.parse(Array(events[0].data.utf8))
            #expect(feed["type"] == .string("MovieRegistered"))
            #expect(feed["key"] == .string("1"))
            #expect(feed["traceId"] == .string(traceID))
            let change = try JSONValue.parse(Array(events[1].data.utf8))
            #expect(change["movieId"] == .integer(1))
            #expect(change["row"]?["desc"] == .string("<b>m</b>"))

            // The snapshot a new browser gets: the rows and the latest events.
            let snapshot = try JSONValue.parse(Array(try await stream.snapshot().utf8))
            guard case .array(let movies)? = snapshot["movies"], case .array(let feedEntries)? = snapshot["events"] else {
                Issue.record("snapshot shape: \(snapshot)")
                return
            }
            #expect(movies.count == 1)
            #expect(feedEntries.count == 1)
        }
    }

    @Test func anEventTheViewIgnoresOnlyFeedsTheFeed() async throws {
        let service = try await TestService(ViewpageService.definition)
        let stream = Self.stream(service)
        let subscription = try #require(stream.hub.subscribe(lastEventID: nil))
        try await whileListening(stream, subscription) {
            let review = try message(
                ReviewCreated(Review(reviewId: 1, movieId: 1, content: "x")), headers: [MessageHeader.correlationId: "corr-9"])
            let outcome = await service.processor.process(review)
            #expect(outcome == .ignored)
            await stream.observe(review, outcome: outcome)
            // A handled event after it: the ignored one's frames are all that come before this one's.
            let registered = try message(
                MovieRegistered(Movie(movieId: 1, status: .available, desc: "m", reviewCnt: 0, lastAction: .register)))
            await stream.observe(registered, outcome: await service.processor.process(registered))
            let events = await frames(subscription, 3)
            #expect(events.map(\.name) == ["cinema", "cinema", "movieview"])
            #expect(try JSONValue.parse(Array(events[0].data.utf8))["traceId"] == .string("corr-9"))
        }
    }

    @Test func aProducersOversizedKeyAndIdsAreCutInTheFeed() throws {
        let long = String(repeating: "k", count: 10_000)
        let entry = DashboardStream.feedEntry(
            IncomingMessage(
                topic: "cinema", partition: 0, offset: 1, key: Array(long.utf8),
                value: Array(#"{"eventType":"\#(long)","timestamp":"\#(long)"}"#.utf8),
                headers: [MessageHeader.correlationId: long]))
        for field in ["key", "type", "traceId", "time"] {
            guard case .string(let value)? = entry[field] else {
                Issue.record("\(field) missing: \(entry)")
                continue
            }
            #expect(value.count == DashboardStream.maxFieldLength, "\(field)")
        }
        // What replicas send each other stays well within PostgreSQL's 8,000-byte notification.
        #expect(DashboardStream.Change(entry: entry, movieId: 1).json.utf8.count < 2_000)
    }

    @Test func aChangeSurvivesItsTripThroughTheDatabaseAsJSON() throws {
        let entry: JSONValue = .object([("type", .string("MovieRegistered")), ("key", .string("1"))])
        for change in [DashboardStream.Change(entry: entry, movieId: 7), DashboardStream.Change(entry: entry, movieId: nil)] {
            #expect(DashboardStream.Change(json: change.json) == change)
        }
        #expect(DashboardStream.Change(json: "not json") == nil)
        #expect(DashboardStream.Change(json: #"{"entry":3}"#) == nil)
    }

    @Test(arguments: [
        (
            ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "correlation-id": "c"],
            "4bf92f3577b34da6a3ce929d0e0e4736"
        ),
        (["traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "correlation-id": "c"], "c"),
        (["traceparent": "garbage", "correlation-id": "c"], "c"),
        (["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01"], nil),
        ([:], nil),
    ])
    func theTraceIdComesFromTraceparentElseTheCorrelationId(headers: [String: String], expected: String?) {
        #expect(DashboardStream.traceID(headers) == expected)
    }
}

/// Replicas on one PostgreSQL database each apply only their partitions' events; every replica's browsers must still see
/// every change. Two streams with their listeners stand for two replicas here (their own hubs and pooled connections,
/// one database), as make test's PostgreSQL pass runs it; ScaleOutTests proves it with two viewpage processes.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CINEMA_TEST_DATABASE_URL"]?.isEmpty == false), .timeLimit(.minutes(1)))
struct DashboardAcrossReplicasTests {
    let tests = DashboardStreamTests()

    @Test func aChangeOneReplicaAppliedStreamsOnTheOther() async throws {
        let service = try await TestService(ViewpageService.definition)
        let applying = DashboardStreamTests.stream(service)
        let watching = DashboardStreamTests.stream(service)
        let onApplying = try #require(applying.hub.subscribe(lastEventID: nil))
        let onWatching = try #require(watching.hub.subscribe(lastEventID: nil))
        try await tests.whileListening(applying, onApplying) {
            try await tests.whileListening(watching, onWatching) {
                let registered = try tests.message(
                    MovieRegistered(Movie(movieId: 4, status: .available, desc: "across", reviewCnt: 0, lastAction: .register)))
                await applying.observe(registered, outcome: await service.processor.process(registered))
                for subscription in [onWatching, onApplying] {
                    let events = await tests.frames(subscription, 2)
                    #expect(events.map(\.name) == ["cinema", "movieview"])
                    #expect(try JSONValue.parse(Array(events[1].data.utf8))["row"]?["desc"] == .string("across"))
                }
                // The watching replica's snapshot has the feed entry too.
                let snapshot = try JSONValue.parse(Array(try await watching.snapshot().utf8))
                guard case .array(let feed)? = snapshot["events"] else {
                    Issue.record("snapshot: \(snapshot)")
                    return
                }
                #expect(feed.count == 1)
            }
        }
    }

    /// The database drops the listener's session (a restart, a failover, an administrator): it listens again, open pages
    /// get a fresh snapshot for what they may have missed, and later changes stream again.
    @Test func aListenerWhoseSessionIsKilledListensAgainAndResynchronizes() async throws {
        let service = try await TestService(ViewpageService.definition)
        let stream = DashboardStreamTests.stream(service)
        let subscription = try #require(stream.hub.subscribe(lastEventID: nil))
        try await tests.whileListening(stream, subscription) {
            let killed = try await service.store.read { database in
                try await database.raw(
                    """
                    SELECT count(pg_terminate_backend(pid)) AS killed FROM pg_stat_activity
                    WHERE datname = current_database() AND query ILIKE 'LISTEN%'
                    """
                ).first()?.decode(column: "killed", as: Int.self)
            }
            #expect(killed == 1)
            let snapshot = try #require(await tests.frames(subscription, 1).first)
            #expect(snapshot.name == "snapshot")
            let registered = try tests.message(
                MovieRegistered(Movie(movieId: 5, status: .available, desc: "after", reviewCnt: 0, lastAction: .register)))
            await stream.observe(registered, outcome: await service.processor.process(registered))
            #expect(await tests.frames(subscription, 2).map(\.name) == ["cinema", "movieview"])
        }
    }
}
