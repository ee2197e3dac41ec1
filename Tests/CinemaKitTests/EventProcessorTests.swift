import CinemaEvents
import CinemaJSON
import CinemaKit
import Foundation
import Logging
import SQLKit
import Synchronization
import Testing

@Suite struct EventProcessorTests {
    static func message(_ json: String, id: String? = UUID().uuidString, offset: Int64 = 0) -> IncomingMessage {
        var headers: [String: String] = [MessageHeader.correlationId: "corr-1"]
        if let id { headers[MessageHeader.messageId] = id }
        return IncomingMessage(
            topic: "cinema", partition: 0, offset: offset, key: Array("1".utf8), value: Array(json.utf8), headers: headers)
    }

    static let confirmed =
        #"{"eventType":"ReservationConfirmed","timestamp":"20261126060250","rsvId":1,"movieId":1,"status":"reserved","payId":1,"me":true}"#

    /// A processor whose one handler counts in the database and records a follow-up event.
    func processor(_ store: SQLiteStore, maxAttempts: Int = 3, failures: Int = 0, retryLater: Bool = false) -> EventProcessor {
        let remainingFailures = Mutex(failures)
        let handlers = EventHandlers().on(ReservationConfirmed.self) { event, context in
            let fail = remainingFailures.withLock { count -> Bool in
                guard count > 0 else { return false }
                count -= 1
                return true
            }
            if fail {
                if retryLater { throw RetryLater("not yet") }
                struct Transient: Error {}
                throw Transient()
            }
            try await context.database.update("counter").set(SQLIdentifier("value"), to: SQLRaw("value + 1")).run()
            try await context.events.record(
                MovieReserved(Movie(movieId: event.movieId, status: .reserved, desc: nil, reviewCnt: 0, lastAction: .reserved)))
        }
        return EventProcessor(
            persistence: Persistence(store: store), handlers: handlers, logger: Logger(label: "test"), group: "test",
            maxAttempts: maxAttempts, initialBackoff: .milliseconds(1))
    }

    @Test func anEventIsAppliedOnceEvenWhenRedelivered() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        let processor = processor(store)
        let message = Self.message(Self.confirmed, id: "m-1")
        #expect(await processor.process(message) == .applied)
        #expect(await processor.process(message) == .duplicate)
        #expect(try await counterValue(store) == 1)
        let outbox = try await store.read { try await OutboxRepository.pending(limit: 10, on: $0) }
        #expect(outbox.count == 1)
        #expect(outbox.first?.eventType == "MovieReserved")
        #expect(outbox.first?.correlationId == "corr-1")
        #expect(outbox.first?.causationId == "m-1")
        #expect(outbox.first?.messageKey == "1")
        await store.close()
    }

    @Test func unknownEventTypesAreIgnoredWithoutEffect() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        #expect(await processor(store).process(Self.message(#"{"eventType":"SomethingNew","x":1}"#)) == .ignored)
        #expect(
            await processor(store).process(
                Self.message(Self.confirmed.replacingOccurrences(of: "ReservationConfirmed", with: "PaymentApproved"))) == .ignored)
        #expect(try await counterValue(store) == 0)
        await store.close()
    }

    @Test func malformedEventsAreDeadLetteredAtOnce() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        let processor = processor(store)
        let notJSON = await processor.process(Self.message("this is not json", offset: 41))
        let badBody = await processor.process(Self.message(#"{"eventType":"ReservationConfirmed","rsvId":"one"}"#, offset: 42))
        guard case .deadLetter(let notJSONReason, let notJSONAttempts) = notJSON,
            case .deadLetter(let badBodyReason, let badBodyAttempts) = badBody
        else {
            Issue.record("expected both dead-lettered, got \(notJSON) and \(badBody)")
            return
        }
        #expect(notJSONReason.hasPrefix("not an event"))
        #expect(badBodyReason.contains("does not decode"))
        // Unreadable is unreadable: no retries were spent on either.
        #expect(notJSONAttempts == 0)
        #expect(badBodyAttempts == 1)
        #expect(try await counterValue(store) == 0)
        await store.close()
    }

    @Test func aFailingHandlerIsRetriedAndItsEffectCommittedOnce() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        #expect(await processor(store, maxAttempts: 5, failures: 2, retryLater: true).process(Self.message(Self.confirmed)) == .applied)
        #expect(try await counterValue(store) == 1)
        #expect(try await store.read { try await OutboxRepository.count(on: $0) } == 1)
        await store.close()
    }

    @Test func aHandlerThatKeepsFailingIsDeadLetteredAfterItsRetries() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        let message = Self.message(Self.confirmed, id: "m-stuck", offset: 7)
        let outcome = await processor(store, maxAttempts: 3, failures: 100).process(message)
        guard case .deadLetter(let reason, let attempts) = outcome else {
            Issue.record("expected a dead letter, got \(outcome)")
            return
        }
        #expect(reason.contains("3 attempts"))
        #expect(attempts == 3)
        #expect(try await counterValue(store) == 0)
        #expect(try await store.read { try await OutboxRepository.count(on: $0) } == 0)
        #expect(try await store.read { try await InboxRepository.contains(messageId: "m-stuck", on: $0) } == false)
        await store.close()
    }

    @Test func aRetryInterruptedByShutdownLeavesTheEventForRedelivery() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        let attempts = Mutex(0)
        let handlers = EventHandlers().on(ReservationConfirmed.self) { _, _ in
            attempts.withLock { $0 += 1 }
            throw RetryLater("never")
        }
        let processor = EventProcessor(
            persistence: Persistence(store: store), handlers: handlers, logger: Logger(label: "test"), group: "test",
            maxAttempts: 1000, initialBackoff: .seconds(2))
        let processing = Task { await processor.process(Self.message(Self.confirmed, id: "m-shutdown")) }
        while attempts.withLock({ $0 }) == 0 { await Task.yield() }
        processing.cancel()
        #expect(await processing.value == .abandoned)
        #expect(try await store.read { try await InboxRepository.contains(messageId: "m-shutdown", on: $0) } == false)
        await store.close()
    }

    @Test func messagesWithoutAnIdAreIdentifiedByTheirPosition() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        let processor = processor(store)
        #expect(await processor.process(Self.message(Self.confirmed, id: nil, offset: 5)) == .applied)
        #expect(await processor.process(Self.message(Self.confirmed, id: nil, offset: 5)) == .duplicate)
        #expect(await processor.process(Self.message(Self.confirmed, id: nil, offset: 6)) == .applied)
        #expect(try await counterValue(store) == 2)
        await store.close()
    }

    /// A replayed dead letter is applied only by the group it names; the others skip it unread.
    @Test func aReplayedLetterIsAppliedOnlyByItsGroup() async throws {
        let store = try await temporaryStore(schema: counterSchema)
        let processor = processor(store)
        var forOthers = Self.message("this is not json either", id: "m-replayed")
        forOthers.headers[MessageHeader.replayForGroup] = "someone-else"
        #expect(await processor.process(forOthers) == .ignored)
        var forUs = Self.message(Self.confirmed, id: "m-replayed")
        forUs.headers[MessageHeader.replayForGroup] = "test"
        #expect(await processor.process(forUs) == .applied)
        #expect(await processor.process(forUs) == .duplicate)
        #expect(try await counterValue(store) == 1)
        await store.close()
    }
}
