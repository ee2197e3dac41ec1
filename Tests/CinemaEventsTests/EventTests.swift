import CinemaEvents
import Foundation
import Testing

@Suite struct EventEncodingTests {
    @Test func movieRegisteredEncodesExactlyAsTheOriginal() throws {
        let event = MovieRegistered(
            Movie(movieId: 1, status: .available, desc: "Beautiful Movie~", reviewCnt: 0, lastAction: .register),
            timestamp: "20220407055544"
        )
        let json = String(decoding: try event.encodedJSON(), as: UTF8.self)
        #expect(
            json
                == #"{"eventType":"MovieRegistered","timestamp":"20220407055544","movieId":1,"status":"available","desc":"Beautiful Movie~","reviewCnt":0,"lastAction":"register","me":true}"#
        )
    }

    @Test func nullFieldsAreWrittenAsNullNotOmitted() throws {
        let event = ReservationCreated(Reservation(rsvId: 2, movieId: 1, status: .requested, payId: nil), timestamp: "20220407070320")
        #expect(
            String(decoding: try event.encodedJSON(), as: UTF8.self)
                == #"{"eventType":"ReservationCreated","timestamp":"20220407070320","rsvId":2,"movieId":1,"status":"reqReserve","payId":null,"me":true}"#
        )
    }

    @Test func paymentAndReviewShapes() throws {
        let payment = PaymentCancelled(Payment(payId: 1, rsvId: 1, movieId: 1, status: .cancelled), timestamp: "20220407070636")
        #expect(
            String(decoding: try payment.encodedJSON(), as: UTF8.self)
                == #"{"eventType":"PaymentCancelled","timestamp":"20220407070636","payId":1,"rsvId":1,"movieId":1,"status":"cancelled","me":true}"#
        )
        let review = ReviewCreated(Review(reviewId: 3, movieId: 1, content: "say \"hi\"\n\u{1}"), timestamp: "20220407070636")
        #expect(
            String(decoding: try review.encodedJSON(), as: UTF8.self)
                == #"{"eventType":"ReviewCreated","timestamp":"20220407070636","reviewId":3,"movieId":1,"content":"say \"hi\"\n\u0001","me":true}"#
        )
    }

    @Test func everyEventRoundTripsThroughItsJSON() throws {
        let movie = Movie(movieId: 7, status: .reserved, desc: "영화", reviewCnt: 2, lastAction: .reserved)
        let reservation = Reservation(rsvId: 4, movieId: 7, status: .reserved, payId: 9)
        let payment = Payment(payId: 9, rsvId: 4, movieId: 7, status: .paid)
        let review = Review(reviewId: 5, movieId: 7, content: nil)
        func check<Kind: EventKind>(_ event: Event<Kind>) throws {
            let decoded = try Event<Kind>.decode(fromJSON: try event.encodedJSON())
            #expect(decoded == event)
            #expect(try EventEnvelopeHead.decode(fromJSON: try event.encodedJSON()).eventType == Kind.name)
        }
        try check(MovieRegistered(movie))
        try check(MovieModified(movie))
        try check(MovieReserved(movie))
        try check(MovieCancelled(movie))
        try check(MovieDeleted(movie))
        try check(ReviewCreated(review))
        try check(ReviewModified(review))
        try check(ReviewDeleted(review))
        try check(ReservationCreated(reservation))
        try check(ReservationConfirmed(reservation))
        try check(ReservationCancelRequested(reservation))
        try check(ReservationCancelled(reservation))
        try check(PaymentApproved(payment))
        try check(PaymentCancelled(payment))
        try check(MovieReservationRejected(ReservationRejection(movieId: 7, rsvId: 4, reason: "sold out")))
        try check(ReservationRejected(reservation))
        #expect(EventKinds.allNames.count == 16)
        #expect(Set(EventKinds.allNames).count == 16)
    }

    @Test func decodingRefusesAnotherEventType() throws {
        let json = try MovieRegistered(Movie(movieId: 1, status: .available, desc: nil, reviewCnt: 0, lastAction: .register)).encodedJSON()
        #expect(throws: EventDecodingError.self) { try MovieDeleted.decode(fromJSON: json) }
    }

    @Test func timestampUsesTheCalendarYear() throws {
        // 2024-12-31 12:00 UTC is in ISO week 1 of 2025; the original's YYYY printed 2025.
        let text = EventTimestamp.format(secondsSince1970: 1_735_646_400)
        #expect(text.count == 14)
        #expect(text.hasPrefix("2024123"))
        let now = EventTimestamp.now()
        #expect(now.count == 14 && now.allSatisfy { $0.isNumber })
    }

    static let movie = Movie(movieId: 1, status: .reserved, desc: "Beautiful Movie~", reviewCnt: 2, lastAction: .reserved)
    static let movieJSON = #""movieId":1,"status":"reserved","desc":"Beautiful Movie~","reviewCnt":2,"lastAction":"reserved""#
    static let review = Review(reviewId: 3, movieId: 1, content: "Great!")
    static let reviewJSON = #""reviewId":3,"movieId":1,"content":"Great!""#
    static let reservation = Reservation(rsvId: 2, movieId: 1, status: .cancelRequested, payId: 2)
    static let reservationJSON = #""rsvId":2,"movieId":1,"status":"reqCancel","payId":2"#
    static let payment = Payment(payId: 2, rsvId: 2, movieId: 1, status: .paid)
    static let paymentJSON = #""payId":2,"rsvId":2,"movieId":1,"status":"paid""#

    /// Every event's exact bytes: the envelope, the record's fields in the original's order, `me`.
    @Test(arguments: [
        (MovieRegistered(movie, timestamp: "20261126060249") as any OutgoingEvent, "MovieRegistered", movieJSON),
        (MovieModified(movie, timestamp: "20261126060249") as any OutgoingEvent, "MovieModified", movieJSON),
        (MovieReserved(movie, timestamp: "20261126060249") as any OutgoingEvent, "MovieReserved", movieJSON),
        (MovieCancelled(movie, timestamp: "20261126060249") as any OutgoingEvent, "MovieCancelled", movieJSON),
        (MovieDeleted(movie, timestamp: "20261126060249") as any OutgoingEvent, "MovieDeleted", movieJSON),
        (ReviewCreated(review, timestamp: "20261126060249") as any OutgoingEvent, "ReviewCreated", reviewJSON),
        (ReviewModified(review, timestamp: "20261126060249") as any OutgoingEvent, "ReviewModified", reviewJSON),
        (ReviewDeleted(review, timestamp: "20261126060249") as any OutgoingEvent, "ReviewDeleted", reviewJSON),
        (ReservationCreated(reservation, timestamp: "20261126060249") as any OutgoingEvent, "ReservationCreated", reservationJSON),
        (ReservationConfirmed(reservation, timestamp: "20261126060249") as any OutgoingEvent, "ReservationConfirmed", reservationJSON),
        (
            ReservationCancelRequested(reservation, timestamp: "20261126060249") as any OutgoingEvent, "ReservationCancelRequested",
            reservationJSON
        ),
        (ReservationCancelled(reservation, timestamp: "20261126060249") as any OutgoingEvent, "ReservationCancelled", reservationJSON),
        (PaymentApproved(payment, timestamp: "20261126060249") as any OutgoingEvent, "PaymentApproved", paymentJSON),
        (PaymentCancelled(payment, timestamp: "20261126060249") as any OutgoingEvent, "PaymentCancelled", paymentJSON),
        // The seats saga's two, beyond the original: the reservation's is shaped like its others.
        (
            MovieReservationRejected(ReservationRejection(movieId: 1, rsvId: 2, reason: "sold out"), timestamp: "20261126060249")
                as any OutgoingEvent, "MovieReservationRejected", #""movieId":1,"rsvId":2,"reason":"sold out""#
        ),
        (ReservationRejected(reservation, timestamp: "20261126060249") as any OutgoingEvent, "ReservationRejected", reservationJSON),
    ])
    func everyEventHasTheOriginalsBytes(event: any OutgoingEvent, eventType: String, fields: String) throws {
        #expect(event.eventType == eventType)
        #expect(
            String(decoding: try event.encodedJSON(), as: UTF8.self) == #"{"eventType":""# + eventType + #"","timestamp":"20261126060249","#
                + fields + #","me":true}"#)
    }

    /// Statuses are the original's words; an event carrying another one is not ours to apply.
    @Test func statusesAreTheOriginalsWordsAndOthersAreRefused() throws {
        #expect(ReservationStatus.allCases.map(\.rawValue) == ["reqReserve", "reserved", "reqCancel", "cancelled", "rejected"])
        #expect(MovieStatus.allCases.map(\.rawValue) == ["available", "reserved"])
        #expect(MovieAction.allCases.map(\.rawValue) == ["register", "modify", "review", "reserved", "cancelled"])
        #expect(PaymentStatus.allCases.map(\.rawValue) == ["paid", "cancelled"])
        let json =
            #"{"eventType":"PaymentApproved","timestamp":"20261126060249","payId":1,"rsvId":1,"movieId":1,"status":"free","me":true}"#
        #expect(throws: DecodingError.self) { try PaymentApproved.decode(fromJSON: Array(json.utf8)) }
    }
}
