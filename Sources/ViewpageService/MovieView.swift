public import CinemaEvents
public import CinemaHTTP

/// One row per movie with its latest reservation and payment: the "viewpage" read model (CQRS).
public struct MovieView: HALResource, Codable, Equatable {
    public var movieId: Int64
    public var desc: String?
    public var reviewCnt: Int64?
    public var movieStatus: MovieStatus?
    public var rsvId: Int64?
    public var rsvStatus: ReservationStatus?
    public var payId: Int64?
    public var payStatus: PaymentStatus?

    public static let collectionName = "movieviews"
    public var id: Int64 { movieId }

    public init(
        movieId: Int64, desc: String? = nil, reviewCnt: Int64? = nil, movieStatus: MovieStatus? = nil,
        rsvId: Int64? = nil, rsvStatus: ReservationStatus? = nil, payId: Int64? = nil, payStatus: PaymentStatus? = nil
    ) {
        self.movieId = movieId
        self.desc = desc
        self.reviewCnt = reviewCnt
        self.movieStatus = movieStatus
        self.rsvId = rsvId
        self.rsvStatus = rsvStatus
        self.payId = payId
        self.payStatus = payStatus
    }
}

// What each event shows, as the original's view handlers had it.
extension MovieView {
    /// MovieRegistered creates the row.
    public static func registered(_ movie: Movie) -> MovieView {
        MovieView(movieId: movie.movieId, desc: movie.desc, reviewCnt: movie.reviewCnt, movieStatus: movie.status)
    }

    /// MovieModified: the movie's own fields.
    public mutating func showDetails(of movie: Movie) {
        desc = movie.desc
        reviewCnt = movie.reviewCnt
        movieStatus = movie.status
    }

    /// MovieReserved, MovieCancelled: the movie's status only.
    public mutating func showStatus(of movie: Movie) {
        movieStatus = movie.status
    }

    /// ReservationConfirmed: which reservation, and its status.
    public mutating func showReservation(_ reservation: Reservation) {
        rsvId = reservation.rsvId
        rsvStatus = reservation.status
    }

    /// ReservationCancelled: the reservation's status only.
    public mutating func showStatus(of reservation: Reservation) {
        rsvStatus = reservation.status
    }

    /// PaymentApproved: which payment, and its status.
    public mutating func showPayment(_ payment: Payment) {
        payId = payment.payId
        payStatus = payment.status
    }

    /// PaymentCancelled: the payment's status only.
    public mutating func showStatus(of payment: Payment) {
        payStatus = payment.status
    }
}
