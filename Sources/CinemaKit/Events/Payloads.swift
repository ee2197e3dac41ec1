/// The bodies of the original system's events. Field names and their order are part of the wire
/// format that topic readers (kafka-console-consumer, kcat) see, so they are spelled out here
/// rather than left to an encoder's key order. Optional fields are written as `null`, as the
/// original's Jackson output did, never omitted.

public struct MovieSnapshot: Decodable, Sendable, Equatable {
    public var movieId: Int64
    public var status: String?
    public var desc: String?
    public var reviewCnt: Int64
    public var lastAction: String?

    public init(movieId: Int64, status: String?, desc: String?, reviewCnt: Int64, lastAction: String?) {
        self.movieId = movieId
        self.status = status
        self.desc = desc
        self.reviewCnt = reviewCnt
        self.lastAction = lastAction
    }

    public func writeFields(to object: inout JSONObjectWriter) {
        object.write("movieId", movieId)
        object.write("status", status)
        object.write("desc", desc)
        object.write("reviewCnt", reviewCnt)
        object.write("lastAction", lastAction)
    }
}

public struct ReviewSnapshot: Decodable, Sendable, Equatable {
    public var reviewId: Int64
    public var movieId: Int64
    public var content: String?

    public init(reviewId: Int64, movieId: Int64, content: String?) {
        self.reviewId = reviewId
        self.movieId = movieId
        self.content = content
    }

    public func writeFields(to object: inout JSONObjectWriter) {
        object.write("reviewId", reviewId)
        object.write("movieId", movieId)
        object.write("content", content)
    }
}

public struct ReservationSnapshot: Decodable, Sendable, Equatable {
    public var rsvId: Int64
    public var movieId: Int64
    public var status: String?
    public var payId: Int64?

    public init(rsvId: Int64, movieId: Int64, status: String?, payId: Int64?) {
        self.rsvId = rsvId
        self.movieId = movieId
        self.status = status
        self.payId = payId
    }

    public func writeFields(to object: inout JSONObjectWriter) {
        object.write("rsvId", rsvId)
        object.write("movieId", movieId)
        object.write("status", status)
        object.write("payId", payId)
    }
}

public struct PaymentSnapshot: Decodable, Sendable, Equatable {
    public var payId: Int64
    public var rsvId: Int64
    public var movieId: Int64
    public var status: String?

    public init(payId: Int64, rsvId: Int64, movieId: Int64, status: String?) {
        self.payId = payId
        self.rsvId = rsvId
        self.movieId = movieId
        self.status = status
    }

    public func writeFields(to object: inout JSONObjectWriter) {
        object.write("payId", payId)
        object.write("rsvId", rsvId)
        object.write("movieId", movieId)
        object.write("status", status)
    }
}

/// Every body names the movie it concerns: it is the Kafka key, so one movie's events stay in order.
public protocol MovieScoped: Decodable, Sendable, Equatable {
    var movieId: Int64 { get }
    /// Writes the body's fields in wire order.
    func writeFields(to object: inout JSONObjectWriter)
}

extension MovieSnapshot: MovieScoped {}
extension ReviewSnapshot: MovieScoped {}
extension ReservationSnapshot: MovieScoped {}
extension PaymentSnapshot: MovieScoped {}
