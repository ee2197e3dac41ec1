import CinemaEvents
import CinemaHTTP
import CinemaJSON
import CinemaKit
import CinemaTesting
import Foundation
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

    @Test func anAppliedEventStreamsTheRowAsCommittedAndTheFeedEntry() async throws {
        let service = try await TestService(ViewpageService.definition)
        let stream = DashboardStream(persistence: service.persistence, handledTypes: ViewpagePolicies.handlers.eventTypes)
        let subscription = try #require(stream.hub.subscribe(lastEventID: nil))
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

    @Test func anEventTheViewIgnoresOnlyFeedsTheFeed() async throws {
        let service = try await TestService(ViewpageService.definition)
        let stream = DashboardStream(persistence: service.persistence, handledTypes: ViewpagePolicies.handlers.eventTypes)
        let subscription = try #require(stream.hub.subscribe(lastEventID: nil))
        let review = try message(
            ReviewCreated(Review(reviewId: 1, movieId: 1, content: "x")), headers: [MessageHeader.correlationId: "corr-9"])
        let outcome = await service.processor.process(review)
        #expect(outcome == .ignored)
        await stream.observe(review, outcome: outcome)
        stream.hub.finishAll()
        let events = await frames(subscription, 10)
        #expect(events.map(\.name) == ["cinema"])
        #expect(try JSONValue.parse(Array(events[0].data.utf8))["traceId"] == .string("corr-9"))
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
