import CinemaKit
import Foundation
import Testing

@Suite struct EventEncodingTests {
    @Test func movieRegisteredEncodesExactlyAsTheOriginal() {
        let event = MovieRegistered(
            MovieSnapshot(movieId: 1, status: "available", desc: "Beautiful Movie~", reviewCnt: 0, lastAction: "register"),
            timestamp: "20220407055544"
        )
        let json = String(decoding: event.encodedJSON(), as: UTF8.self)
        #expect(json == #"{"eventType":"MovieRegistered","timestamp":"20220407055544","movieId":1,"status":"available","desc":"Beautiful Movie~","reviewCnt":0,"lastAction":"register","me":true}"#)
    }

    @Test func nullFieldsAreWrittenAsNullNotOmitted() {
        let event = ReservationCreated(ReservationSnapshot(rsvId: 2, movieId: 1, status: "reqReserve", payId: nil), timestamp: "20220407070320")
        #expect(String(decoding: event.encodedJSON(), as: UTF8.self)
            == #"{"eventType":"ReservationCreated","timestamp":"20220407070320","rsvId":2,"movieId":1,"status":"reqReserve","payId":null,"me":true}"#)
    }

    @Test func paymentAndReviewShapes() {
        let payment = PaymentCancelled(PaymentSnapshot(payId: 1, rsvId: 1, movieId: 1, status: "cancelled"), timestamp: "20220407070636")
        #expect(String(decoding: payment.encodedJSON(), as: UTF8.self)
            == #"{"eventType":"PaymentCancelled","timestamp":"20220407070636","payId":1,"rsvId":1,"movieId":1,"status":"cancelled","me":true}"#)
        let review = ReviewCreated(ReviewSnapshot(reviewId: 3, movieId: 1, content: "say \"hi\"\n\u{1}"), timestamp: "20220407070636")
        #expect(String(decoding: review.encodedJSON(), as: UTF8.self)
            == #"{"eventType":"ReviewCreated","timestamp":"20220407070636","reviewId":3,"movieId":1,"content":"say \"hi\"\n\u0001","me":true}"#)
    }

    @Test func everyEventRoundTripsThroughItsJSON() throws {
        let movie = MovieSnapshot(movieId: 7, status: "reserved", desc: "영화", reviewCnt: 2, lastAction: "reserved")
        let reservation = ReservationSnapshot(rsvId: 4, movieId: 7, status: "reserved", payId: 9)
        let payment = PaymentSnapshot(payId: 9, rsvId: 4, movieId: 7, status: "paid")
        let review = ReviewSnapshot(reviewId: 5, movieId: 7, content: nil)
        func check<Kind: EventKind>(_ event: Event<Kind>) throws {
            let decoded = try Event<Kind>.decode(fromJSON: event.encodedJSON())
            #expect(decoded == event)
            #expect(try EventEnvelopeHead.decode(fromJSON: event.encodedJSON()).eventType == Kind.name)
        }
        try check(MovieRegistered(movie)); try check(MovieModified(movie)); try check(MovieReserved(movie))
        try check(MovieCancelled(movie)); try check(MovieDeleted(movie))
        try check(ReviewCreated(review)); try check(ReviewModified(review)); try check(ReviewDeleted(review))
        try check(ReservationCreated(reservation)); try check(ReservationConfirmed(reservation))
        try check(ReservationCancelRequested(reservation)); try check(ReservationCancelled(reservation))
        try check(PaymentApproved(payment)); try check(PaymentCancelled(payment))
        #expect(EventKinds.allNames.count == 14)
        #expect(Set(EventKinds.allNames).count == 14)
    }

    @Test func decodingRefusesAnotherEventType() {
        let json = MovieRegistered(MovieSnapshot(movieId: 1, status: nil, desc: nil, reviewCnt: 0, lastAction: nil)).encodedJSON()
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
}
