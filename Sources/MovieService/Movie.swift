public import CinemaKit

/// A movie the manager registered. `reviewCnt` and `lastAction` are the service's to set.
public struct Movie: HALResource, Decodable, Equatable {
    public var movieId: Int64
    public var status: String?
    public var desc: String?
    public var reviewCnt: Int64
    public var lastAction: String?

    public static let collectionName = "movies"
    public static let itemRelation = "movie"
    public var id: Int64 { movieId }

    public var fields: [(String, JSONValue)] {
        [
            ("movieId", .integer(movieId)),
            ("status", .string(status)),
            ("desc", .string(desc)),
            ("reviewCnt", .integer(reviewCnt)),
            ("lastAction", .string(lastAction)),
        ]
    }

    public var snapshot: MovieSnapshot {
        MovieSnapshot(movieId: movieId, status: status, desc: desc, reviewCnt: reviewCnt, lastAction: lastAction)
    }
}

public enum MovieStatus {
    public static let available = "available"
    public static let reserved = "reserved"
    public static let all = [available, reserved]
}

/// A customer's review of a movie. The original called the movie `roomId` here (a template
/// leftover that broke review counting); we use `movieId` and still accept `roomId`.
public struct Review: HALResource, Decodable, Equatable {
    public var reviewId: Int64
    public var movieId: Int64
    public var content: String?

    public static let collectionName = "reviews"
    public static let itemRelation = "review"
    public var id: Int64 { reviewId }

    public var fields: [(String, JSONValue)] {
        [("reviewId", .integer(reviewId)), ("movieId", .integer(movieId)), ("content", .string(content))]
    }

    public var snapshot: ReviewSnapshot {
        ReviewSnapshot(reviewId: reviewId, movieId: movieId, content: content)
    }
}
