public import CinemaEvents
public import CinemaHTTP
public import CinemaKit

// The movie's fields and statuses are the event contract's (`CinemaEvents.Movie`): its events
// carry the whole record, in the original's shape. Its seats are this service's alone (the movie
// service is the authority on them, and the original's events had none): `MovieListing` is the
// movie as stored and shown here, record and seats together. What a movie may do, and what each
// change announces, is here.

/// A movie as this service stores and shows it: the published record's fields, then its seats.
public struct MovieListing: HALResource, Codable, Equatable, Sendable {
    public var movieId: Int64
    public var status: MovieStatus
    public var desc: String?
    public var reviewCnt: Int64
    public var lastAction: MovieAction
    /// How many reservations the movie can hold; nil means unlimited (the original's behaviour).
    public var seats: Int64?
    /// Confirmed reservations holding a seat now.
    public var reservedSeats: Int64

    public static let collectionName = "movies"
    public var id: Int64 { movieId }

    /// A movie as the manager registers it, before the database has given it an id.
    public static func registering(desc: String?, status: MovieStatus = .available, seats: Int64? = nil) -> MovieListing {
        MovieListing(
            movieId: 0, status: status, desc: desc, reviewCnt: 0, lastAction: .register, seats: seats, reservedSeats: 0)
    }

    /// The record its events carry.
    public var movie: Movie {
        get { Movie(movieId: movieId, status: status, desc: desc, reviewCnt: reviewCnt, lastAction: lastAction) }
        set {
            movieId = newValue.movieId
            status = newValue.status
            desc = newValue.desc
            reviewCnt = newValue.reviewCnt
            lastAction = newValue.lastAction
        }
    }

    /// What became of a confirmed reservation.
    public enum SeatDecision: Sendable {
        case seated(MovieReserved)
        case rejected(MovieReservationRejected)
    }

    /// Gives a confirmed reservation a seat, when one is left. `held` counts the reservations
    /// holding a seat before this one (the live ones the service keeps).
    public mutating func seat(rsvId: Int64, held: Int64) -> SeatDecision {
        if let seats, held >= seats {
            return .rejected(
                MovieReservationRejected(
                    ReservationRejection(movieId: movieId, rsvId: rsvId, reason: "sold out: all \(seats) seats are reserved")))
        }
        reservedSeats = held == .max ? held : held + 1
        return .seated(movie.reserve())
    }

    /// A reservation gave its seat back; `stillHeld` are the ones left.
    public mutating func freeSeat(stillHeld: Int64) -> MovieCancelled {
        reservedSeats = stillHeld
        return movie.release(stillHeldBy: Int(clamping: stillHeld))
    }

    /// The manager's new number of seats: never below the seats already reserved (the movie
    /// service does not take seats back from confirmed reservations), nil for unlimited.
    public mutating func changeSeats(to newSeats: Int64?) throws(DomainError) {
        if let newSeats, newSeats < reservedSeats {
            throw .conflict("seats cannot go below the \(reservedSeats) already reserved", field: "seats")
        }
        seats = newSeats
    }

    /// Why a reservation of a movie that is gone is refused.
    public static func rejectionOfDeleted(movieId: Int64, rsvId: Int64) -> MovieReservationRejected {
        MovieReservationRejected(ReservationRejection(movieId: movieId, rsvId: rsvId, reason: "movie \(movieId) was deleted"))
    }
}

extension Movie {
    /// Applies the manager's edit. Every real change is announced (the original did so only
    /// when the client itself sent `lastAction=modify`); an edit that changes nothing is not.
    public mutating func edit(_ change: (inout Movie) -> Void) -> MovieModified? {
        var edited = self
        change(&edited)
        guard edited != self else { return nil }
        edited.lastAction = .modify
        self = edited
        return MovieModified(self)
    }

    public mutating func reserve() -> MovieReserved {
        status = .reserved
        lastAction = .reserved
        return MovieReserved(self)
    }

    /// A reservation of the movie was cancelled. The movie stays `reserved` while other
    /// reservations still hold it (the original set it `available` on any cancellation).
    public mutating func release(stillHeldBy liveReservations: Int) -> MovieCancelled {
        status = liveReservations > 0 ? .reserved : .available
        lastAction = .cancelled
        return MovieCancelled(self)
    }

    public mutating func countReview() -> MovieModified {
        reviewCnt = reviewCnt == .max ? reviewCnt : reviewCnt + 1
        lastAction = .review
        return MovieModified(self)
    }

    public mutating func uncountReview() -> MovieModified {
        reviewCnt = max(0, reviewCnt - 1)
        lastAction = .review
        return MovieModified(self)
    }
}
