import CinemaEvents
import CinemaHTTP
import CinemaJSON
import CinemaKit
import CinemaPolling
import CinemaTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ReservationService
import SQLKit
import Synchronization
import Testing

/// The payment circuit breaker as a customer sees it: once payment has failed often enough,
/// reservations are refused at once with a Retry-After, and nothing is left behind.
@Suite struct PaymentBreakerTests {
    /// A payment service played by the test: it answers as told, after `delay`, and counts the calls.
    final class ScriptedPayments: PaymentClient {
        struct Script {
            /// nil: pays (the payment id is 100 + the reservation id).
            var payFailure: PaymentCallError?
            /// nil: the void goes through.
            var voidFailure: PaymentCallError?
            /// How long every call takes before it answers (a hanging payment timing out).
            var delay: Duration = .zero
        }

        let script: Mutex<Script>
        let payCalls = Mutex(0)
        let voidCalls = Mutex(0)

        init(_ script: Script) {
            self.script = Mutex(script)
        }

        func pay(rsvId: Int64, movieId: Int64, correlationId: String) async throws(PaymentCallError) -> Int64 {
            payCalls.withLock { $0 += 1 }
            let script = script.withLock { $0 }
            try? await Task.sleep(for: script.delay)
            if let failure = script.payFailure { throw failure }
            return 100 + rsvId
        }

        func void(rsvId: Int64, movieId: Int64, correlationId: String) async throws(PaymentCallError) {
            voidCalls.withLock { $0 += 1 }
            let script = script.withLock { $0 }
            try? await Task.sleep(for: script.delay)
            if let failure = script.voidFailure { throw failure }
        }
    }

    /// Runs `body` against a reservation service paying through `payments`, with the breaker
    /// settings given, its router built as the runtime builds it (with `/ready`'s details).
    func withReservation(
        _ payments: ScriptedPayments, breaker settings: [String: String],
        _ body: @escaping @Sendable (TestService, PaymentSaga, any TestClientProtocol) async throws -> Void
    ) async throws {
        let reservation = try await TestService(ReservationService.definition, environment: settings)
        try await reservation.deliver(
            MovieRegistered(Movie(movieId: 1, status: .available, desc: nil, reviewCnt: 0, lastAction: .register)))
        let saga = ReservationService.paymentSaga(reservation.environment, payments: payments)
        let components = ReservationService.components(reservation.environment, saga: saga)
        let router = ServiceRuntime.buildRouter(
            service: "reservation", routes: components.routes, readiness: Readiness(checks: [], details: components.readinessDetails))
        try await Application(router: router).test(.router) { client in try await body(reservation, saga, client) }
    }

    func pendingCount(_ service: TestService) async throws -> Int {
        try await service.store.read { database in
            try await database.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("pending_payment")
                .first(decodingColumn: "n", as: Int.self) ?? -1
        }
    }

    static func reserve(_ client: any TestClientProtocol) async throws -> (reply: JSONReply, took: Duration) {
        let start = ContinuousClock.now
        let reply = try await client.send(.post, "/reservations", #"{"movieId":1}"#)
        return (reply, ContinuousClock.now - start)
    }

    static func isRefusedByTheBreaker(_ reply: JSONReply) -> Bool {
        guard reply.status == .serviceUnavailable, case .string(let message)? = reply.json?["message"] else { return false }
        return message.hasPrefix("payment is failing or overloaded; no reservation was made, retry in ")
    }

    /// Payment hangs until each call times out: the call that opens the breaker does not wait for
    /// a void as well, and from then on every reservation is a 503 at once, with the time the
    /// breaker stays open as Retry-After, and no id, pending row, reservation, event or payment call.
    @Test func anOpenBreakerRefusesAtOnceAndLeavesNothingBehind() async throws {
        let hang = Duration.seconds(1)
        let payments = ScriptedPayments(.init(payFailure: .unavailable("timed out"), voidFailure: .unavailable("timed out"), delay: hang))
        let settings = ["PAYMENT_BREAKER_WINDOW_SIZE": "3", "PAYMENT_BREAKER_MINIMUM_CALLS": "3", "PAYMENT_BREAKER_OPEN_SECONDS": "30"]
        try await withReservation(payments, breaker: settings) { reservation, _, client in
            #expect((try await client.send(.get, "/ready")).json?["details"]?["paymentBreaker"] == .string("CLOSED"))
            // Pay and void both time out: two failures.
            let first = try await Self.reserve(client)
            #expect(first.reply.status == .serviceUnavailable && first.reply.headers[.retryAfter] == "5")
            // The third failure opens the breaker; the void is not tried (it would hang as well).
            let second = try await Self.reserve(client)
            #expect(second.reply.status == .serviceUnavailable)
            #expect(second.took < hang * 2, "the void was waited for although the breaker was open")
            #expect(payments.voidCalls.withLock { $0 } == 1)
            // Both payment calls' outcomes are unknown: left to the reconciler.
            #expect(try await pendingCount(reservation) == 2)

            for _ in 0..<3 {
                let refused = try await Self.reserve(client)
                #expect(Self.isRefusedByTheBreaker(refused.reply), "\(String(describing: refused.reply.json))")
                #expect(refused.took < hang / 2, "refused after \(refused.took)")
                let retryAfter = refused.reply.headers[.retryAfter].flatMap { Int($0) } ?? 0
                #expect((29...30).contains(retryAfter))
                #expect(
                    refused.reply.json?["message"]
                        == .string("payment is failing or overloaded; no reservation was made, retry in \(retryAfter) s"))
            }
            #expect(payments.payCalls.withLock { $0 } == 2)
            #expect(payments.voidCalls.withLock { $0 } == 1)
            #expect(try await pendingCount(reservation) == 2)
            #expect((try await client.send(.get, "/reservations")).json?["page"]?["totalElements"] == .integer(0))
            #expect(try await reservation.recordedEventTypes().isEmpty)

            // Readiness shows the breaker and stays up: payment failing is no reason to stop taking traffic.
            let ready = try await client.send(.get, "/ready")
            #expect(ready.status == .ok)
            #expect(ready.json?["status"] == .string("UP"))
            #expect(ready.json?["service"] == .string("reservation"))
            #expect(ready.json?["details"]?["paymentBreaker"] == .string("OPEN"))
        }
    }

    /// The reconciler waits while the breaker is open; once payment is back and the breaker lets
    /// calls through again, it refunds the payment calls whose outcome was never learned, and
    /// reservations work again, with ids that show the refused ones never took one.
    @Test func afterTheOpenWaitTrialCallsCloseTheBreakerAndTheReconcilerRefunds() async throws {
        let payments = ScriptedPayments(.init(payFailure: .unavailable("timed out"), voidFailure: .unavailable("timed out")))
        let settings = [
            "PAYMENT_BREAKER_WINDOW_SIZE": "2", "PAYMENT_BREAKER_MINIMUM_CALLS": "2", "PAYMENT_BREAKER_OPEN_SECONDS": "2",
            "PAYMENT_BREAKER_HALF_OPEN_CALLS": "1",
        ]
        try await withReservation(payments, breaker: settings) { reservation, saga, client in
            // Pay and void fail: open. The next reservation is refused by the breaker.
            #expect((try await Self.reserve(client)).reply.status == .serviceUnavailable)
            let refused = try await Self.reserve(client).reply
            #expect(Self.isRefusedByTheBreaker(refused))
            #expect(try await pendingCount(reservation) == 1)

            // While open, the reconciler does not call payment at all.
            await PaymentReconciler(saga: saga, settleAfterSeconds: 0).reconcileOnce()
            #expect(payments.voidCalls.withLock { $0 } == 1)
            #expect(try await pendingCount(reservation) == 1)

            payments.script.withLock { $0 = .init() }
            let halfOpen = try await eventually("the breaker half-opens") {
                try await client.send(.get, "/ready").json?["details"]?["paymentBreaker"] == .string("HALF_OPEN") ? true : nil
            }
            #expect(halfOpen)
            // The one trial call succeeds: closed. Reservation 1 was the failed one; the refused one took no id.
            let accepted = try await Self.reserve(client)
            #expect(accepted.reply.status == .created)
            #expect(accepted.reply.json?["rsvId"] == .integer(2))
            #expect((try await client.send(.get, "/ready")).json?["details"]?["paymentBreaker"] == .string("CLOSED"))

            try await saga.settleStale(startedBefore: .max)
            #expect(payments.voidCalls.withLock { $0 } == 2)
            #expect(try await pendingCount(reservation) == 0)
            #expect(try await reservation.recordedEventTypes() == ["ReservationCreated"])
        }
    }

    /// What counts against payment: not answering (unreachable, timeouts, 5xx, junk). A refusal
    /// (4xx) is payment working, however many there are.
    @Test(arguments: [
        (PaymentCallError.rejected(status: 409, message: "voided"), false),
        (.unreachable("connection refused"), true),
        (.unavailable("500"), true),
    ])
    func onlyPaymentNotAnsweringOpensTheBreaker(failure: PaymentCallError, opens: Bool) async throws {
        let payments = ScriptedPayments(.init(payFailure: failure))
        let settings = ["PAYMENT_BREAKER_WINDOW_SIZE": "4", "PAYMENT_BREAKER_MINIMUM_CALLS": "4"]
        try await withReservation(payments, breaker: settings) { _, _, client in
            var refusedByTheBreaker = 0
            for _ in 0..<6 {
                let reply = try await Self.reserve(client).reply
                #expect(reply.status == (opens ? .serviceUnavailable : .unprocessableContent))
                if Self.isRefusedByTheBreaker(reply) { refusedByTheBreaker += 1 }
            }
            #expect((refusedByTheBreaker > 0) == opens)
            let state = try await client.send(.get, "/ready").json?["details"]?["paymentBreaker"]
            #expect(state == .string(opens ? "OPEN" : "CLOSED"))
        }
    }
}
