import CinemaEvents
import CinemaJSON
import CinemaKit
import CinemaTesting
import HTTPTypes
import HummingbirdTesting
import Testing
import ViewpageService

@Suite struct MovieViewTests {
    func view(_ service: TestService, _ movieId: Int64) async throws -> MovieView? {
        try await service.store.read { try await MovieViewRepository.find(movieId, on: $0) }
    }

    @Test func theViewFollowsEveryListedEvent() async throws {
        let service = try await TestService(ViewpageService.definition)
        let movie = Movie(movieId: 1, status: .available, desc: "Beautiful Movie~", reviewCnt: 0, lastAction: .register)
        try await service.deliver(MovieRegistered(movie))
        try await service.deliver(PaymentApproved(Payment(payId: 1, rsvId: 1, movieId: 1, status: .paid)))
        try await service.deliver(ReservationConfirmed(Reservation(rsvId: 1, movieId: 1, status: .reserved, payId: 1)))
        try await service.deliver(
            MovieReserved(Movie(movieId: 1, status: .reserved, desc: "Beautiful Movie~", reviewCnt: 0, lastAction: .reserved)))
        var row = try #require(try await view(service, 1))
        #expect(
            row
                == MovieView(
                    movieId: 1, desc: "Beautiful Movie~", reviewCnt: 0, movieStatus: .reserved, rsvId: 1, rsvStatus: .reserved, payId: 1,
                    payStatus: .paid))

        try await service.deliver(PaymentCancelled(Payment(payId: 1, rsvId: 1, movieId: 1, status: .cancelled)))
        try await service.deliver(ReservationCancelled(Reservation(rsvId: 1, movieId: 1, status: .cancelled, payId: 1)))
        try await service.deliver(
            MovieCancelled(Movie(movieId: 1, status: .available, desc: "Beautiful Movie~", reviewCnt: 0, lastAction: .cancelled)))
        try await service.deliver(MovieModified(Movie(movieId: 1, status: .available, desc: "Renamed", reviewCnt: 3, lastAction: .review)))
        row = try #require(try await view(service, 1))
        #expect(
            row
                == MovieView(
                    movieId: 1, desc: "Renamed", reviewCnt: 3, movieStatus: .available, rsvId: 1, rsvStatus: .cancelled, payId: 1,
                    payStatus: .cancelled))

        try await service.application().test(.router) { client async throws in
            #expect((try await client.send(.get, "/movieviews/1")).json?["desc"] == .string("Renamed"))
            #expect((try await client.send(.get, "/movieviews")).json?["page"]?["totalElements"] == .integer(1))
        }
        try await service.deliver(MovieDeleted(movie))
        #expect(try await view(service, 1) == nil)
    }

    @Test func eventsForUnknownMoviesChangeNothing() async throws {
        let service = try await TestService(ViewpageService.definition)
        #expect(try await service.deliver(PaymentApproved(Payment(payId: 1, rsvId: 1, movieId: 9, status: .paid))) == .applied)
        #expect(try await view(service, 9) == nil)
    }

    /// Reserve r1, reserve r2, cancel r1: the row keeps showing r2, live and paid.
    @Test func eventsOfAnotherReservationDoNotChangeTheRowShowingTheLatest() async throws {
        let service = try await TestService(ViewpageService.definition)
        try await service.deliver(MovieRegistered(Movie(movieId: 1, status: .available, desc: "m", reviewCnt: 0, lastAction: .register)))
        for id in [Int64(1), 2] {
            try await service.deliver(PaymentApproved(Payment(payId: id, rsvId: id, movieId: 1, status: .paid)))
            try await service.deliver(ReservationConfirmed(Reservation(rsvId: id, movieId: 1, status: .reserved, payId: id)))
        }
        try await service.deliver(PaymentCancelled(Payment(payId: 1, rsvId: 1, movieId: 1, status: .cancelled)))
        try await service.deliver(ReservationCancelled(Reservation(rsvId: 1, movieId: 1, status: .cancelled, payId: 1)))
        let row = try #require(try await view(service, 1))
        #expect(row.rsvId == 2)
        #expect(row.rsvStatus == .reserved)
        #expect(row.payId == 2)
        #expect(row.payStatus == .paid)
    }

    /// The seats saga in the view: a rejection shows on the row that shows that reservation,
    /// and so does its refund.
    @Test func aRejectedReservationAndItsRefundShow() async throws {
        let service = try await TestService(ViewpageService.definition)
        try await service.deliver(MovieRegistered(Movie(movieId: 1, status: .available, desc: "m", reviewCnt: 0, lastAction: .register)))
        try await service.deliver(PaymentApproved(Payment(payId: 4, rsvId: 4, movieId: 1, status: .paid)))
        try await service.deliver(ReservationConfirmed(Reservation(rsvId: 4, movieId: 1, status: .reserved, payId: 4)))
        try await service.deliver(ReservationRejected(Reservation(rsvId: 4, movieId: 1, status: .rejected, payId: 4)))
        try await service.deliver(PaymentCancelled(Payment(payId: 4, rsvId: 4, movieId: 1, status: .cancelled)))
        let row = try #require(try await view(service, 1))
        #expect(row.rsvId == 4)
        #expect(row.rsvStatus == .rejected)
        #expect(row.payStatus == .cancelled)
    }
}
