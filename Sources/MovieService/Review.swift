public import CinemaEvents
public import CinemaHTTP
public import CinemaKit

// A review's fields are the event contract's (`CinemaEvents.Review`); its rules are here.

extension Review: HALResource {
    public static let collectionName = "reviews"
    public var id: Int64 { reviewId }

    /// A review as the customer writes it, before the database has given it an id.
    public static func writing(movieId: Int64, content: String?) -> Review {
        Review(reviewId: 0, movieId: movieId, content: content)
    }

    /// Changes the text; the event to announce it, or nil when the text is the same. A review
    /// stays with its movie: naming another one is refused.
    public mutating func edit(content: String??, movieId: Int64?) throws(DomainError) -> ReviewModified? {
        if let movieId, movieId != self.movieId {
            throw .unprocessable("a review cannot move to another movie", field: "movieId")
        }
        guard case .some(let content) = content, content != self.content else { return nil }
        self.content = content
        return ReviewModified(self)
    }
}
