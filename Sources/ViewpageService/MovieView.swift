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

// What each event shows. The row shows the movie, its latest confirmed reservation and that
// reservation's payment; an event about another reservation or payment leaves it alone (the
// original's handlers keyed everything by movie, so cancelling an older reservation marked the
// newer one cancelled).
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

    /// ReservationConfirmed: the row now shows this reservation and its payment, which a
    /// confirmation proves approved.
    public mutating func showReservation(_ reservation: Reservation) {
        rsvId = reservation.rsvId
        rsvStatus = reservation.status
        payId = reservation.payId
        payStatus = reservation.payId == nil ? nil : .paid
    }

    /// ReservationCancelled, ReservationRejected: the status, if it is the reservation the row shows.
    public mutating func showStatus(of reservation: Reservation) {
        guard reservation.rsvId == rsvId else { return }
        rsvStatus = reservation.status
    }

    /// PaymentApproved, PaymentCancelled: the payment, if it is the shown reservation's.
    public mutating func showPayment(_ payment: Payment) {
        guard payment.rsvId == rsvId else { return }
        payId = payment.payId
        payStatus = payment.status
    }
}
