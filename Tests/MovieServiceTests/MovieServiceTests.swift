import CinemaEvents
import CinemaJSON
import CinemaKit
import CinemaTesting
import HTTPTypes
import HummingbirdTesting
import MovieService
import SQLKit
import Testing

@Suite struct MovieRouteTests {
    @Test func registeringAMovieAnswersHALAndRecordsMovieRegistered() async throws {
        let service = try await TestService(MovieService.definition)
        try await service.application().test(.router) { client async throws in
            let created = try await client.send(.post, "/movies", #"{"desc":"Beautiful Movie~"}"#)
            #expect(created.status == .created)
            #expect(created.headers[.location] == "http://localhost/movies/1")
            #expect(created.json?["status"] == .string("available"))
            #expect(created.json?["reviewCnt"] == .integer(0))
            #expect(created.json?["lastAction"] == .string("register"))
            #expect(created.json?["_links"]?["self"]?["href"] == .string("http://localhost/movies/1"))

            let list = try await client.send(.get, "/movies")
            #expect(list.json?["page"]?["totalElements"] == .integer(1))
            #expect((try await client.send(.get, "/movies/1")).json?["desc"] == .string("Beautiful Movie~"))
            #expect((try await client.send(.get, "/movies/99")).status == .notFound)
            #expect((try await client.send(.get, "/movies/abc")).status == .notFound)
        }
        #expect(try await service.recordedEventTypes() == ["MovieRegistered"])
    }

    @Test func editsRecordMovieModifiedOnlyWhenSomethingChanged() async throws {
        let service = try await TestService(MovieService.definition)
        try await service.application().test(.router) { client async throws in
            _ = try await client.send(.post, "/movies", #"{"desc":"Old"}"#)
            // The frontend PUTs the whole HAL document back; read-only fields are ignored.
            let edited = try await client.send(.put, "/movies/1", #"{"desc":"New","reviewCnt":99,"lastAction":"x","_links":{}}"#)
            #expect(edited.status == .ok)
            #expect(edited.json?["desc"] == .string("New"))
            #expect(edited.json?["reviewCnt"] == .integer(0))
            #expect(edited.json?["lastAction"] == .string("modify"))
            let unchanged = try await client.send(.patch, "/movies/1", #"{"desc":"New"}"#)
            #expect(unchanged.status == .ok)
            #expect((try await client.send(.patch, "/movies/1", #"{"status":"sold"}"#)).status == .badRequest)
            #expect((try await client.send(.patch, "/movies/2", #"{"desc":"x"}"#)).status == .notFound)
            // The body is read before the item is looked up: bad input is a 400 either way.
            #expect((try await client.send(.patch, "/movies/2", #"{"status":"sold"}"#)).status == .badRequest)
            #expect((try await client.send(.delete, "/movies/1")).status == .noContent)
            #expect((try await client.send(.get, "/movies/1")).status == .notFound)
        }
        #expect(try await service.recordedEventTypes() == ["MovieRegistered", "MovieModified", "MovieDeleted"])
    }

    @Test func reviewsNeedAnExistingMovieAndAcceptRoomIdAsAlias() async throws {
        let service = try await TestService(MovieService.definition)
        try await service.application().test(.router) { client async throws in
            _ = try await client.send(.post, "/movies", #"{"desc":"m"}"#)
            let unknown = try await client.send(.post, "/reviews", #"{"movieId":"7","content":"?"}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.json?["field"] == .string("movieId"))
            let missing = try await client.send(.post, "/reviews", #"{"content":"?"}"#)
            #expect(missing.status == .badRequest)
            #expect(missing.json?["message"] == .string("movieId is required"))
            let viaAlias = try await client.send(.post, "/reviews", #"{"roomId":1,"content":"great"}"#)
            #expect(viaAlias.status == .created)
            #expect(viaAlias.json?["movieId"] == .integer(1))
            #expect((try await client.send(.patch, "/reviews/1", #"{"content":"even better"}"#)).json?["content"] == .string("even better"))
            #expect((try await client.send(.delete, "/reviews/1")).status == .noContent)
            let check = try await client.send(.get, "/check/chkAndReqReserve?movieId=1")
            #expect(check.json == .bool(true))
        }
        #expect(try await service.recordedEventTypes() == ["MovieRegistered", "ReviewCreated", "ReviewModified", "ReviewDeleted"])
    }
}

@Suite struct MoviePolicyTests {
    func serviceWithMovie() async throws -> TestService {
        let service = try await TestService(MovieService.definition)
        try await service.application().test(.router) { client async throws in
            _ = try await client.send(.post, "/movies", #"{"desc":"Beautiful Movie~"}"#)
        }
        return service
    }

    func movie(_ service: TestService) async throws -> MovieListing? {
        try await service.store.read { try await MovieRepository.find(1, on: $0) }
    }

    @Test func reviewsAreCountedAndUncounted() async throws {
        let service = try await serviceWithMovie()
        let review = Review(reviewId: 1, movieId: 1, content: "x")
        #expect(try await service.deliver(ReviewCreated(review)) == .applied)
        #expect(try await service.deliver(ReviewCreated(Review(reviewId: 2, movieId: 1, content: "y"))) == .applied)
        #expect(try await movie(service)?.reviewCnt == 2)
        #expect(try await movie(service)?.lastAction == .review)
        try await service.deliver(ReviewDeleted(review))
        #expect(try await movie(service)?.reviewCnt == 1)
        #expect(try await service.recordedEventTypes() == ["MovieRegistered", "MovieModified", "MovieModified", "MovieModified"])
    }

    @Test func confirmationReservesAndCancellationFreesTheMovie() async throws {
        let service = try await serviceWithMovie()
        let reservation = Reservation(rsvId: 1, movieId: 1, status: .reserved, payId: 1)
        try await service.deliver(ReservationConfirmed(reservation), messageId: "confirm-1")
        #expect(try await movie(service)?.status == .reserved)
        // A redelivery changes nothing and announces nothing.
        #expect(try await service.deliver(ReservationConfirmed(reservation), messageId: "confirm-1") == .duplicate)
        try await service.deliver(ReservationCancelled(reservation))
        let final = try #require(try await movie(service))
        #expect(final.status == .available)
        #expect(final.lastAction == .cancelled)
        let events = try await service.recordedEvents()
        #expect(events.map(\.type) == ["MovieRegistered", "MovieReserved", "MovieCancelled"])
        #expect(events[1].json["lastAction"] == .string("reserved"))
        #expect(events[2].json["status"] == .string("available"))
    }

    /// A movie is reserved while any confirmed reservation still holds it.
    @Test func theStatusFollowsLiveReservationsNotTheLastEvent() async throws {
        let service = try await serviceWithMovie()
        let first = Reservation(rsvId: 1, movieId: 1, status: .reserved, payId: 1)
        let second = Reservation(rsvId: 2, movieId: 1, status: .reserved, payId: 2)
        try await service.deliver(ReservationConfirmed(first))
        try await service.deliver(ReservationConfirmed(second))
        try await service.deliver(ReservationCancelled(first))
        #expect(try await movie(service)?.status == .reserved)
        let cancelled = try await service.recordedEvents().last
        #expect(cancelled?.type == "MovieCancelled")
        #expect(cancelled?.json["status"] == .string("reserved"))
        #expect(cancelled?.json["lastAction"] == .string("cancelled"))
        try await service.deliver(ReservationCancelled(second))
        #expect(try await movie(service)?.status == .available)
        // A confirmation delivered again (another message id) does not hold the movie twice.
        try await service.deliver(ReservationConfirmed(first))
        try await service.deliver(ReservationConfirmed(first))
        try await service.deliver(ReservationCancelled(first))
        #expect(try await movie(service)?.status == .available)
    }

    @Test func eventsForADeletedMovieAreMoot() async throws {
        let service = try await TestService(MovieService.definition)
        #expect(try await service.deliver(ReviewCreated(Review(reviewId: 1, movieId: 5, content: nil))) == .applied)
        #expect(try await service.recordedEventTypes().isEmpty)
    }
}

/// Seats: the movie service is the authority. A confirmed reservation takes a seat if one is
/// left, or is refused with MovieReservationRejected; a cancelled one gives its seat back.
@Suite struct MovieSeatTests {
    @Test(arguments: [
        (#"{"desc":"m","seats":-1}"#, "seats must be 0 or more, got -1"),
        (#"{"desc":"m","seats":"many"}"#, #"seats must be an integer, got "many""#),
        (#"{"desc":"m","seats":2.5}"#, "seats must be an integer, got a number"),
        (#"{"desc":"m","seats":[3]}"#, "seats must be an integer, got an array"),
    ])
    func badSeatsAreRefusedNamingTheField(body: String, message: String) async throws {
        let service = try await TestService(MovieService.definition)
        try await service.application().test(.router) { client async throws in
            let refused = try await client.send(.post, "/movies", body)
            #expect(refused.status == .badRequest)
            #expect(refused.json?["field"] == .string("seats"))
            #expect(refused.json?["message"] == .string(message))
        }
        #expect(try await service.recordedEventTypes().isEmpty)
    }

    @Test func seatsAreShownButTheEventsKeepTheOriginalsShape() async throws {
        let service = try await TestService(MovieService.definition)
        try await service.application().test(.router) { client async throws in
            let limited = try await client.send(.post, "/movies", #"{"desc":"m","seats":2}"#)
            #expect(limited.json?["seats"] == .integer(2))
            #expect(limited.json?["reservedSeats"] == .integer(0))
            let unlimited = try await client.send(.post, "/movies", #"{"desc":"u"}"#)
            #expect(unlimited.json?["seats"] == .null)
        }
        let registered = try #require(try await service.recordedEvents().first)
        #expect(registered.json["seats"] == nil && registered.json["reservedSeats"] == nil)
    }

    @Test func confirmationsBeyondTheSeatsAreRejectedAndACancellationFreesOne() async throws {
        let service = try await TestService(MovieService.definition)
        try await service.application().test(.router) { client async throws in
            _ = try await client.send(.post, "/movies", #"{"desc":"m","seats":2}"#)
        }
        for rsvId in Int64(1)...4 {
            try await service.deliver(ReservationConfirmed(Reservation(rsvId: rsvId, movieId: 1, status: .reserved, payId: rsvId)))
        }
        var events = try await service.recordedEvents()
        #expect(
            events.map(\.type) == [
                "MovieRegistered", "MovieReserved", "MovieReserved", "MovieReservationRejected", "MovieReservationRejected",
            ])
        #expect(events[3].json["rsvId"] == .integer(3))
        #expect(events[3].json["reason"] == .string("sold out: all 2 seats are reserved"))
        #expect(try await service.store.read { try await MovieRepository.find(1, on: $0) }?.reservedSeats == 2)

        // A refused reservation's cancellation frees nothing; a seated one's frees its seat.
        try await service.deliver(ReservationCancelled(Reservation(rsvId: 3, movieId: 1, status: .cancelled, payId: 3)))
        #expect(try await service.store.read { try await MovieRepository.find(1, on: $0) }?.reservedSeats == 2)
        try await service.deliver(ReservationCancelled(Reservation(rsvId: 1, movieId: 1, status: .cancelled, payId: 1)))
        #expect(try await service.store.read { try await MovieRepository.find(1, on: $0) }?.reservedSeats == 1)
        try await service.deliver(ReservationConfirmed(Reservation(rsvId: 5, movieId: 1, status: .reserved, payId: 5)))
        events = try await service.recordedEvents()
        #expect(events.suffix(2).map(\.type) == ["MovieCancelled", "MovieReserved"])
        #expect(try await service.store.read { try await MovieRepository.find(1, on: $0) }?.reservedSeats == 2)
    }

    @Test func aReservationOfADeletedMovieIsRejected() async throws {
        let service = try await TestService(MovieService.definition)
        try await service.deliver(ReservationConfirmed(Reservation(rsvId: 1, movieId: 9, status: .reserved, payId: 1)))
        let rejection = try #require(try await service.recordedEvents().first)
        #expect(rejection.type == "MovieReservationRejected")
        #expect(rejection.json["reason"] == .string("movie 9 was deleted"))
    }

    @Test func seatsChangeWithoutAnEventAndNeverBelowThoseReserved() async throws {
        let service = try await TestService(MovieService.definition)
        try await service.application().test(.router) { client async throws in
            _ = try await client.send(.post, "/movies", #"{"desc":"m","seats":3}"#)
            try await service.deliver(ReservationConfirmed(Reservation(rsvId: 1, movieId: 1, status: .reserved, payId: 1)))
            try await service.deliver(ReservationConfirmed(Reservation(rsvId: 2, movieId: 1, status: .reserved, payId: 2)))
            let below = try await client.send(.patch, "/movies/1", #"{"seats":1}"#)
            #expect(below.status == .conflict)
            #expect(below.json?["field"] == .string("seats"))
            let raised = try await client.send(.patch, "/movies/1", #"{"seats":10}"#)
            #expect(raised.json?["seats"] == .integer(10))
            #expect((try await client.send(.get, "/movies/1")).json?["seats"] == .integer(10))
            let unlimited = try await client.send(.patch, "/movies/1", #"{"seats":null}"#)
            #expect(unlimited.json?["seats"] == .null)
            // reservedSeats is the service's: a client cannot set it.
            let forged = try await client.send(.put, "/movies/1", #"{"desc":"m","reservedSeats":0}"#)
            #expect(forged.json?["reservedSeats"] == .integer(2))
        }
        #expect(try await service.recordedEventTypes() == ["MovieRegistered", "MovieReserved", "MovieReserved"])
    }
}

/// Every confirmation counts its movie's live reservations (the seats): with a million of them (the growth benchmark)
/// a scan per event saturated both cores. The count must go through the index, on both engines.
@Suite struct MovieReservationIndexTests {
    @Test func theSeatCountOfAMovieUsesTheMovieIdIndex() async throws {
        let service = try await TestService(MovieService.definition)
        let plan: [String] = try await service.store.read { database in
            if database.dialect.name == "sqlite" {
                return try await database.raw(
                    "EXPLAIN QUERY PLAN SELECT COUNT(*) AS n FROM movie_reservation WHERE \(ident: "movieId") = 1"
                ).all().map { try $0.decode(column: "detail", as: String.self) }
            }
            // PostgreSQL's planner scans a table this small whatever its indexes: the index must exist.
            return try await database.raw("SELECT indexname FROM pg_indexes WHERE tablename = 'movie_reservation'")
                .all().map { try $0.decode(column: "indexname", as: String.self) }
        }
        #expect(plan.contains { $0.contains("movie_reservation_movieId") }, "\(plan)")
        try await service.store.transaction { database in
            try await database.raw(
                "INSERT INTO movie_reservation (\(ident: "rsvId"), \(ident: "movieId")) VALUES (1, 7), (2, 7), (3, 8)"
            ).run()
        }
        #expect(try await service.store.read { try await MovieReservationRepository.count(ofMovie: 7, on: $0) } == 2)
    }
}
