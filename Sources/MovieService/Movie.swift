public import CinemaEvents
public import CinemaHTTP

// The movie's fields and statuses are the event contract's (`CinemaEvents.Movie`): its events
// carry the whole record. What a movie may do, and what each change announces, is here.

extension Movie: HALResource {
    public static let collectionName = "movies"
    public var id: Int64 { movieId }

    /// A movie as the manager registers it, before the database has given it an id.
    public static func registering(desc: String?, status: MovieStatus = .available) -> Movie {
        Movie(movieId: 0, status: status, desc: desc, reviewCnt: 0, lastAction: .register)
    }

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
