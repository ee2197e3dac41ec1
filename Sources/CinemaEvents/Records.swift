/// The records the services publish: each is the entity as its owning service stores it, and the
/// body of its events, as in the original (which copied the entity into the event). Their fields
/// are spelled once, here: the declaration order is the order on the topic and in HAL documents
/// (see `JSONValueEncoder`), optional fields are written as `null`, never left out, and SQL rows
/// use the same names. Adding a field is a change of the wire contract: the event tests say so.

/// A movie the manager registered (owned by the movie service).
public struct Movie: EventBody {
    public var movieId: Int64
    public var status: MovieStatus
    public var desc: String?
    public var reviewCnt: Int64
    public var lastAction: MovieAction

    public init(movieId: Int64, status: MovieStatus, desc: String?, reviewCnt: Int64, lastAction: MovieAction) {
        self.movieId = movieId
        self.status = status
        self.desc = desc
        self.reviewCnt = reviewCnt
        self.lastAction = lastAction
    }
}

public enum MovieStatus: String, Codable, Sendable, CaseIterable {
    case available
    case reserved
}

/// What last happened to a movie, in the original's words.
public enum MovieAction: String, Codable, Sendable, CaseIterable {
    case register
    case modify
    case review
    case reserved
    case cancelled
}

/// A customer's review of a movie (owned by the movie service). The original named the movie
/// `roomId` here, a template leftover that broke review counting; requests may still say so.
public struct Review: EventBody {
    public var reviewId: Int64
    public var movieId: Int64
    public var content: String?

    public init(reviewId: Int64, movieId: Int64, content: String?) {
        self.reviewId = reviewId
        self.movieId = movieId
        self.content = content
    }
}

/// A customer's reservation (owned by the reservation service).
public struct Reservation: EventBody {
    public var rsvId: Int64
    public var movieId: Int64
    public var status: ReservationStatus
    public var payId: Int64?

    public init(rsvId: Int64, movieId: Int64, status: ReservationStatus, payId: Int64?) {
        self.rsvId = rsvId
        self.movieId = movieId
        self.status = status
        self.payId = payId
    }
}

public enum ReservationStatus: String, Codable, Sendable, CaseIterable {
    /// Paid, waiting for the approval event to confirm it.
    case requested = "reqReserve"
    case reserved
    /// The customer asked to cancel; the refund is under way.
    case cancelRequested = "reqCancel"
    case cancelled
    /// The movie refused it (sold out, or deleted) after it was confirmed; the payment is refunded.
    case rejected
}

/// The movie service's refusal of a confirmed reservation that no longer fits the movie (owned by
/// the movie service, which counts the seats). Not in the original, which had no seats.
public struct ReservationRejection: EventBody {
    public var movieId: Int64
    public var rsvId: Int64
    public var reason: String

    public init(movieId: Int64, rsvId: Int64, reason: String) {
        self.movieId = movieId
        self.rsvId = rsvId
        self.reason = reason
    }
}

/// The payment for one reservation (owned by the payment service).
public struct Payment: EventBody {
    public var payId: Int64
    public var rsvId: Int64
    public var movieId: Int64
    public var status: PaymentStatus

    public init(payId: Int64, rsvId: Int64, movieId: Int64, status: PaymentStatus) {
        self.payId = payId
        self.rsvId = rsvId
        self.movieId = movieId
        self.status = status
    }
}

public enum PaymentStatus: String, Codable, Sendable, CaseIterable {
    case paid
    /// Refunded.
    case cancelled
}

/// What every event body is: a record that names the movie it concerns. The movie id is the
/// Kafka key, so one movie's events stay in one partition, in order.
public protocol EventBody: Codable, Sendable, Equatable {
    var movieId: Int64 { get }
}
