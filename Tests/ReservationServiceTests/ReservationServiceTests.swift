import CinemaEvents
import CinemaJSON
import CinemaKit
import CinemaTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MovieService
import PaymentService
import ReservationService
import SQLKit
import Testing

/// The reservation service against the real payment service, live on a loopback port.
@Suite struct ReservationTests {
    /// Runs `body` with a reservation service whose calls go to live payment and movie services.
    func withServices(_ body: @escaping @Sendable (TestService, TestService, any TestClientProtocol) async throws -> Void) async throws {
        try await withPeers { reservation, payment, _, client in try await body(reservation, payment, client) }
    }

    func withPeers(
        _ body:
            @escaping @Sendable (_ reservation: TestService, _ payment: TestService, _ movie: TestService, any TestClientProtocol)
            async throws
            -> Void
    ) async throws {
        let payment = try await TestService(PaymentService.definition)
        let movie = try await TestService(MovieService.definition)
        try await live(payment) { paymentPort in
            try await live(movie) { moviePort in
                let reservation = try await TestService(
                    ReservationService.definition,
                    environment: ["PAYMENT_URL": "http://127.0.0.1:\(paymentPort)", "MOVIE_URL": "http://127.0.0.1:\(moviePort)"]
                )
                // The movie is known from its registration event.
                try await reservation.deliver(
                    MovieRegistered(Movie(movieId: 1, status: .available, desc: nil, reviewCnt: 0, lastAction: .register)))
                try await reservation.application().test(.router) { client async throws in
                    try await body(reservation, payment, movie, client)
                }
            }
        }
    }

    /// Serves `service` on a free loopback port while `body` runs.
    func live(_ service: TestService, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let app = Application(router: try service.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in try await body(try #require(client.port)) }
    }

    func pendingCount(_ service: TestService) async throws -> Int {
        try await service.store.read { database in
            try await database.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("pending_payment")
                .first(decodingColumn: "n", as: Int.self) ?? -1
        }
    }

    @Test func aReservationExistsOnlyAfterItsPayment() async throws {
        try await withServices { reservation, payment, client in
            let created = try await client.send(.post, "/reservations", #"{"movieId":"1","status":"reqReserve"}"#)
            #expect(created.status == .created)
            #expect(created.json?["rsvId"] == .integer(1))
            #expect(created.json?["status"] == .string("reqReserve"))
            #expect(created.json?["payId"] == .null)
            let payments = try await payment.store.read { try await PaymentRepository.table.all(on: $0) }
            #expect(payments.map(\.rsvId) == [1])
            #expect(try await reservation.recordedEventTypes() == ["ReservationCreated"])
            #expect(try await payment.recordedEventTypes() == ["PaymentApproved"])
            #expect(try await pendingCount(reservation) == 0)

            // The approval confirms it, once.
            let approved = PaymentApproved(payments[0])
            try await reservation.deliver(approved, messageId: "approved-1")
            try await reservation.deliver(approved, messageId: "approved-1")
            let confirmed = try await client.send(.get, "/reservations/1")
            #expect(confirmed.json?["status"] == .string("reserved"))
            #expect(confirmed.json?["payId"] == .integer(1))
            #expect(try await reservation.recordedEventTypes() == ["ReservationCreated", "ReservationConfirmed"])
        }
    }

    @Test func unknownMoviesAndBadInputAreRefusedBeforeAnyPayment() async throws {
        try await withServices { reservation, payment, client in
            let unknown = try await client.send(.post, "/reservations", #"{"movieId":42}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.json?["message"] == .string("movieId 42 is not a registered movie"))
            #expect((try await client.send(.post, "/reservations", #"{"movieId":"one"}"#)).json?["field"] == .string("movieId"))
            #expect((try await client.send(.post, "/reservations", #"{"movieId":1,"status":"reserved"}"#)).status == .badRequest)
            #expect((try await client.send(.post, "/reservations", "{")).status == .badRequest)
            #expect(try await payment.store.read { try await PaymentRepository.table.all(on: $0) }.isEmpty)
            #expect(try await reservation.recordedEventTypes().isEmpty)
        }
    }

    @Test func cancellingStartsTheSagaAndOnlyValidTransitionsAreAccepted() async throws {
        try await withServices { reservation, _, client in
            _ = try await client.send(.post, "/reservations", #"{"movieId":1}"#)
            #expect((try await client.send(.delete, "/reservations/1")).status == .conflict)
            #expect((try await client.send(.patch, "/reservations/1", #"{"status":"reserved"}"#)).status == .badRequest)
            #expect((try await client.send(.patch, "/reservations/1", #"{"movieId":2}"#)).status == .unprocessableContent)
            let cancel = try await client.send(.patch, "/reservations/1", #"{"status":"reqCancel"}"#)
            #expect(cancel.json?["status"] == .string("reqCancel"))
            try await reservation.deliver(PaymentCancelled(Payment(payId: 1, rsvId: 1, movieId: 1, status: .cancelled)))
            #expect((try await client.send(.get, "/reservations/1")).json?["status"] == .string("cancelled"))
            #expect((try await client.send(.patch, "/reservations/1", #"{"status":"reqCancel"}"#)).status == .conflict)
            #expect((try await client.send(.delete, "/reservations/1")).status == .noContent)
            #expect((try await client.send(.patch, "/reservations/9", #"{"status":"reqCancel"}"#)).status == .notFound)
        }
        // (the recorder of the service above is gone with it; the sequence is checked end to end)
    }

    /// The seats saga's turn here: the movie's refusal rejects a confirmed reservation once (its
    /// refund is asked for by ReservationRejected); a rejected one can neither be cancelled nor
    /// turned cancelled by the refund; one being cancelled keeps that course.
    @Test func aRefusalByTheMovieRejectsTheReservationOnce() async throws {
        try await withServices { reservation, _, client in
            _ = try await client.send(.post, "/reservations", #"{"movieId":1}"#)
            _ = try await client.send(.post, "/reservations", #"{"movieId":1}"#)
            for rsvId in Int64(1)...2 {
                try await reservation.deliver(PaymentApproved(Payment(payId: rsvId, rsvId: rsvId, movieId: 1, status: .paid)))
            }
            let refusal = MovieReservationRejected(ReservationRejection(movieId: 1, rsvId: 1, reason: "sold out: all 1 seats are reserved"))
            #expect(try await reservation.deliver(refusal) == .applied)
            #expect(try await reservation.deliver(refusal) == .applied)
            #expect((try await client.send(.get, "/reservations/1")).json?["status"] == .string("rejected"))
            #expect((try await client.send(.patch, "/reservations/1", #"{"status":"reqCancel"}"#)).status == .conflict)
            try await reservation.deliver(PaymentCancelled(Payment(payId: 1, rsvId: 1, movieId: 1, status: .cancelled)))
            #expect((try await client.send(.get, "/reservations/1")).json?["status"] == .string("rejected"))
            #expect((try await client.send(.delete, "/reservations/1")).status == .noContent)

            // Reservation 2 is being cancelled when the refusal comes: the cancellation goes on.
            _ = try await client.send(.patch, "/reservations/2", #"{"status":"reqCancel"}"#)
            try await reservation.deliver(MovieReservationRejected(ReservationRejection(movieId: 1, rsvId: 2, reason: "sold out")))
            #expect((try await client.send(.get, "/reservations/2")).json?["status"] == .string("reqCancel"))
            let types = try await reservation.recordedEventTypes()
            #expect(types.filter { $0 == "ReservationRejected" }.count == 1)
            #expect(!types.contains("ReservationCancelled"))
        }
    }

    /// A payment call that outlives the reconciler's wait: whichever of the request and the
    /// reconciler takes the pending row first wins, the other backs off, never both.
    @Test(arguments: [true, false])
    func theRequestAndTheReconcilerNeverBothSettleACall(reconcilerFirst: Bool) async throws {
        let service = try await TestService(ReservationService.definition)
        let rsvId = try await service.store.transaction { try await ReservationRepository.beginPayment(movieId: 1, now: 0, on: $0) }
        if reconcilerFirst {
            #expect(try await service.store.transaction { try await ReservationRepository.claimForVoiding(rsvId: rsvId, on: $0) })
            #expect(try await service.store.transaction { try await ReservationRepository.completePayment(rsvId: rsvId, on: $0) } == false)
        } else {
            #expect(try await service.store.transaction { try await ReservationRepository.completePayment(rsvId: rsvId, on: $0) })
            #expect(try await service.store.transaction { try await ReservationRepository.claimForVoiding(rsvId: rsvId, on: $0) } == false)
        }
    }

    @Test func paymentDownMeansNoReservationAndAnImmediateRetryLater() async throws {
        // Nothing listens on port 1.
        let reservation = try await TestService(ReservationService.definition, environment: ["PAYMENT_URL": "http://127.0.0.1:1"])
        try await reservation.deliver(
            MovieRegistered(Movie(movieId: 1, status: .available, desc: nil, reviewCnt: 0, lastAction: .register)))
        try await reservation.application().test(.router) { client async throws in
            let start = ContinuousClock.now
            let refused = try await client.send(.post, "/reservations", #"{"movieId":1}"#)
            #expect(ContinuousClock.now - start < .seconds(2))
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "5")
            #expect((try await client.send(.get, "/reservations")).json?["page"]?["totalElements"] == .integer(0))
        }
        #expect(try await reservation.recordedEventTypes().isEmpty)
        #expect(try await pendingCount(reservation) == 0)
    }

    @Test func anApprovalArrivingBeforeTheReservationCommitsIsRetriedNotDropped() async throws {
        let reservation = try await TestService(ReservationService.definition)
        let rsvId = try await reservation.store.transaction { database in
            try await ReservationRepository.beginPayment(movieId: 1, now: 0, on: database)
        }
        let outcome = try await reservation.deliver(PaymentApproved(Payment(payId: 1, rsvId: rsvId, movieId: 1, status: .paid)))
        // With the pending payment never settling, the processor gives up and dead-letters it.
        guard case .deadLetter(let reason, _) = outcome else {
            Issue.record("expected a dead letter, got \(outcome)")
            return
        }
        #expect(reason.contains("still being created"))
    }

    @Test func theReconcilerRefundsPaymentsOfReservationsThatNeverCameToBe() async throws {
        try await withServices { reservation, payment, _ in
            // A payment was taken, then the reservation service died before storing the reservation.
            let rsvId = try await reservation.store.transaction { database in
                try await ReservationRepository.beginPayment(movieId: 1, now: 0, on: database)
            }
            _ = try await payment.store.transaction { try await PaymentRepository.insert(.approving(rsvId: rsvId, movieId: 1), on: $0) }
            await PaymentReconciler(saga: ReservationService.paymentSaga(reservation.environment)).reconcileOnce()
            let refunded = try await payment.store.read { try await PaymentRepository.find(rsvId: rsvId, on: $0) }
            #expect(refunded?.status == .cancelled)
            #expect(try await pendingCount(reservation) == 0)
            #expect(try await payment.recordedEventTypes().last == "PaymentCancelled")
        }
    }

    /// The reconciler voids a stale payment call even when no payment exists yet; a payment that
    /// arrives after that (the call was still in flight) is refused.
    @Test func aPaymentArrivingAfterTheVoidIsRefused() async throws {
        try await withServices { reservation, payment, _ in
            let rsvId = try await reservation.store.transaction { database in
                try await ReservationRepository.beginPayment(movieId: 1, now: 0, on: database)
            }
            await PaymentReconciler(saga: ReservationService.paymentSaga(reservation.environment)).reconcileOnce()
            #expect(try await pendingCount(reservation) == 0)
            try await payment.application().test(.router) { paymentClient in
                let late = try await paymentClient.send(.post, "/payments", #"{"rsvId":\#(rsvId),"movieId":1}"#)
                #expect(late.status == .conflict)
            }
            #expect(try await payment.store.read { try await PaymentRepository.table.all(on: $0) }.isEmpty)
        }
    }

    /// A movie is reservable as soon as its registration was answered, before its event arrives.
    @Test func aMovieJustRegisteredIsReservableBeforeItsEventArrives() async throws {
        try await withPeers { reservation, _, movie, client in
            try await movie.application().test(.router) { movieClient in
                for desc in ["Known from its event", "Brand new"] {
                    let registered = try await movieClient.send(.post, "/movies", #"{"desc":"\#(desc)"}"#)
                    #expect(registered.status == .created)
                }
            }
            // Movie 1 came from an event; movie 2 only exists in the movie service so far.
            let reply = try await client.send(.post, "/reservations", #"{"movieId":2}"#)
            #expect(reply.status == .created)
            #expect(reply.json?["movieId"] == .integer(2))
            let unknown = try await client.send(.post, "/reservations", #"{"movieId":3}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(try await reservation.recordedEventTypes() == ["ReservationCreated"])
        }
    }

    /// With the movie service down, every movie known here stays reservable; one it cannot check
    /// is a retry-later, not a refusal.
    @Test func withMovieDownKnownMoviesStayReservable() async throws {
        let payment = try await TestService(PaymentService.definition)
        try await live(payment) { paymentPort in
            let reservation = try await TestService(
                ReservationService.definition,
                environment: ["PAYMENT_URL": "http://127.0.0.1:\(paymentPort)", "MOVIE_URL": "http://127.0.0.1:1"]
            )
            try await reservation.deliver(
                MovieRegistered(Movie(movieId: 1, status: .available, desc: nil, reviewCnt: 0, lastAction: .register)))
            try await reservation.application().test(.router) { client in
                #expect((try await client.send(.post, "/reservations", #"{"movieId":1}"#)).status == .created)
                let unchecked = try await client.send(.post, "/reservations", #"{"movieId":2}"#)
                #expect(unchecked.status == .serviceUnavailable)
                #expect(unchecked.headers[.retryAfter] == "5")
            }
        }
    }
}
