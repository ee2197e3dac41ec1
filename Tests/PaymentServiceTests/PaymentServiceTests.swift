import CinemaEvents
import CinemaJSON
import CinemaKit
import CinemaTesting
import HTTPTypes
import HummingbirdTesting
import PaymentService
import Testing

@Suite struct PaymentTests {
    @Test func aPaymentIsIdempotentPerReservation() async throws {
        let service = try await TestService(PaymentService.definition)
        try await service.application().test(.router) { client async throws in
            let first = try await client.send(.post, "/payments", #"{"rsvId":1,"movieId":1,"status":"paid"}"#)
            #expect(first.status == .created)
            #expect(first.json?["payId"] == .integer(1))
            let retried = try await client.send(.post, "/payments", #"{"rsvId":"1","movieId":"1","status":"paid"}"#)
            #expect(retried.status == .ok)
            #expect(retried.json?["payId"] == .integer(1))
            let conflicting = try await client.send(.post, "/payments", #"{"rsvId":1,"movieId":2}"#)
            #expect(conflicting.status == .conflict)
            #expect((try await client.send(.post, "/payments", #"{"rsvId":2,"movieId":1,"status":"free"}"#)).status == .badRequest)
            #expect((try await client.send(.post, "/payments", #"{"movieId":1}"#)).json?["field"] == .string("rsvId"))
            let found = try await client.send(.get, "/payments/search/findByRsvId?rsvId=1")
            #expect(found.json?["payId"] == .integer(1))
            #expect((try await client.send(.get, "/payments/search/findByRsvId?rsvId=9")).status == .notFound)
        }
        let events = try await service.recordedEvents()
        #expect(events.map(\.type) == ["PaymentApproved"])
        #expect(events.first?.json["status"] == .string("paid"))
    }

    @Test func cancelRequestRefundsOnceAndOnlyAPaidPayment() async throws {
        let service = try await TestService(PaymentService.definition)
        try await service.application().test(.router) { client async throws in
            _ = try await client.send(.post, "/payments", #"{"rsvId":1,"movieId":1}"#)
        }
        let request = ReservationCancelRequested(Reservation(rsvId: 1, movieId: 1, status: .cancelRequested, payId: 1))
        #expect(try await service.deliver(request) == .applied)
        // A second cancel request (another message) finds it cancelled already: no second event.
        #expect(try await service.deliver(request) == .applied)
        #expect(try await service.recordedEventTypes() == ["PaymentApproved", "PaymentCancelled"])
        let payment = try await service.store.read { try await PaymentRepository.table.find(1, on: $0) }
        #expect(payment?.status == .cancelled)
        try await service.application().test(.router) { client async throws in
            #expect((try await client.send(.patch, "/payments/1", #"{"status":"paid"}"#)).status == .conflict)
        }
    }

    @Test func aRejectedReservationIsRefundedOnce() async throws {
        let service = try await TestService(PaymentService.definition)
        try await service.application().test(.router) { client async throws in
            _ = try await client.send(.post, "/payments", #"{"rsvId":1,"movieId":1}"#)
        }
        let rejected = ReservationRejected(Reservation(rsvId: 1, movieId: 1, status: .rejected, payId: 1))
        #expect(try await service.deliver(rejected) == .applied)
        #expect(try await service.deliver(rejected) == .applied)
        // And a cancel request after it finds nothing left to refund.
        try await service.deliver(ReservationCancelRequested(Reservation(rsvId: 1, movieId: 1, status: .cancelRequested, payId: 1)))
        #expect(try await service.recordedEventTypes() == ["PaymentApproved", "PaymentCancelled"])
    }

    /// A void refunds the reservation's payment, or, with none yet, refuses one arriving later:
    /// a refund can never miss a payment committed just after it.
    @Test func aVoidRefundsOrBarsTheReservationsPayment() async throws {
        let service = try await TestService(PaymentService.definition)
        try await service.application().test(.router) { client async throws in
            let barred = try await client.send(.post, "/payments/voids", #"{"rsvId":7,"movieId":1}"#)
            #expect(barred.status == .ok)
            #expect(barred.json?["refunded"] == .bool(false))
            let late = try await client.send(.post, "/payments", #"{"rsvId":7,"movieId":1}"#)
            #expect(late.status == .conflict)
            #expect(late.json?["field"] == .string("rsvId"))

            _ = try await client.send(.post, "/payments", #"{"rsvId":8,"movieId":1}"#)
            let refunded = try await client.send(.post, "/payments/voids", #"{"rsvId":8,"movieId":1}"#)
            #expect(refunded.json?["refunded"] == .bool(true))
            let again = try await client.send(.post, "/payments/voids", #"{"rsvId":8,"movieId":1}"#)
            #expect(again.json?["refunded"] == .bool(true))
            #expect((try await client.send(.post, "/payments/voids", #"{"rsvId":"x"}"#)).status == .badRequest)
        }
        #expect(try await service.recordedEventTypes() == ["PaymentApproved", "PaymentCancelled"])
        let payments = try await service.store.read { try await PaymentRepository.table.all(on: $0) }
        #expect(payments.map(\.rsvId) == [8])
        #expect(payments.map(\.status) == [.cancelled])
    }
}
