import CinemaEvents
import CinemaHTTP
import CinemaJSON
import CinemaKit
import CinemaTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PaymentService
import ReservationService
import SQLKit
import Synchronization
import Testing

/// Answers of a payment service that fails after it may have charged: a real payment service
/// cannot be made to give them, so a stand-in on loopback does, and records the voids it gets.
@Suite struct PaymentFaultTests {
    final class VoidCalls: Sendable {
        let bodies = Mutex<[String]>([])
    }

    enum Answer: String, CaseIterable, Sendable {
        case serverError = "500"
        case okWithoutPaymentId = "200 without payId"
        case notJSON = "200 not JSON"
    }

    /// Runs `body` with a reservation service paying against a stand-in that gives `answer`.
    func withFaultyPayment(
        _ answer: Answer,
        _ body: @escaping @Sendable (TestService, any TestClientProtocol, VoidCalls) async throws -> Void
    ) async throws {
        let voids = VoidCalls()
        let router = Router()
        router.post("payments") { _, _ -> Response in
            switch answer {
            case .serverError: Response(status: .internalServerError)
            case .okWithoutPaymentId: JSONResponse.make(.object([("status", .string("paid"))]))
            case .notJSON: Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "<html>")))
            }
        }
        router.post("payments/voids") { request, context -> Response in
            let body = try await request.body.collect(upTo: 4096)
            voids.bodies.withLock { $0.append(String(buffer: body)) }
            return JSONResponse.make(.object([("refunded", .bool(true))]))
        }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) {
            payment in
            let port = try #require(payment.port)
            let reservation = try await TestService(ReservationService.definition, environment: ["PAYMENT_URL": "http://127.0.0.1:\(port)"])
            try await reservation.deliver(
                MovieRegistered(Movie(movieId: 1, status: .available, desc: nil, reviewCnt: 0, lastAction: .register)))
            try await reservation.application().test(.router) { client in try await body(reservation, client, voids) }
        }
    }

    /// The payment may have been taken: no reservation, a retry-later answer, and the payment voided.
    @Test(arguments: Answer.allCases)
    func anUnknownOutcomeIsVoidedNotAssumedFree(answer: Answer) async throws {
        try await withFaultyPayment(answer) { reservation, client, voids in
            let reply = try await client.send(.post, "/reservations", #"{"movieId":1}"#)
            #expect(reply.status == .serviceUnavailable)
            #expect(reply.headers[.retryAfter] == "5")
            #expect((try await client.send(.get, "/reservations")).json?["page"]?["totalElements"] == .integer(0))
            #expect(voids.bodies.withLock { $0 } == [#"{"rsvId":1,"movieId":1}"#])
            #expect(try await reservation.recordedEventTypes().isEmpty)
        }
    }

    /// A payment approved for a reservation that does not exist (and is not being created) is
    /// refunded through the cancellation event.
    @Test func anApprovalForNoReservationAsksForTheMoneyBack() async throws {
        let reservation = try await TestService(ReservationService.definition)
        let outcome = try await reservation.deliver(PaymentApproved(Payment(payId: 4, rsvId: 9, movieId: 1, status: .paid)))
        #expect(outcome == .applied)
        let events = try await reservation.recordedEvents()
        #expect(events.map(\.type) == ["ReservationCancelRequested"])
        #expect(events.first?.json["rsvId"] == .integer(9))
        #expect(events.first?.json["payId"] == .integer(4))
        #expect(events.first?.json["status"] == .string("reqCancel"))
    }
}
