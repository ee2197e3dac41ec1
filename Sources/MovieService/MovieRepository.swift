public import CinemaKit
public import SQLKit

public enum MovieRepository {
    public static let movies = Table<Movie>("movie", id: "movieId")
    public static let reviews = Table<Review>("review", id: "reviewId")

    public static let schema: [SchemaStep] = [
        SchemaStep { database in
            try await database.create(table: movies.name).ifNotExists()
                .identityColumn("movieId")
                .column("status", type: .text)
                .column("desc", type: .text)
                .column("reviewCnt", type: .bigint, .notNull)
                .column("lastAction", type: .text)
                .run()
        },
        SchemaStep { database in
            try await database.create(table: reviews.name).ifNotExists()
                .identityColumn("reviewId")
                .column("movieId", type: .bigint, .notNull)
                .column("content", type: .text)
                .run()
        },
    ]

    public static func insertMovie(status: String, desc: String?, on database: any SQLDatabase) async throws -> Movie {
        let id = try await database.insert(into: movies.name)
            .columns("status", "desc", "reviewCnt", "lastAction")
            .values(SQLBind(status), SQLBind(desc), SQLBind(Int64(0)), SQLBind("register"))
            .returning("movieId")
            .first(decodingColumn: "movieId", as: Int64.self)
        guard let id else { throw APIError.internalError("movie insert returned no id") }
        return Movie(movieId: id, status: status, desc: desc, reviewCnt: 0, lastAction: "register")
    }

    public static func save(_ movie: Movie, on database: any SQLDatabase) async throws {
        try await database.update(movies.name)
            .set("status", to: SQLBind(movie.status))
            .set("desc", to: SQLBind(movie.desc))
            .set("reviewCnt", to: SQLBind(movie.reviewCnt))
            .set("lastAction", to: SQLBind(movie.lastAction))
            .where("movieId", .equal, SQLBind(movie.movieId))
            .run()
    }

    public static func insertReview(movieId: Int64, content: String?, on database: any SQLDatabase) async throws -> Review {
        let id = try await database.insert(into: reviews.name)
            .columns("movieId", "content")
            .values(SQLBind(movieId), SQLBind(content))
            .returning("reviewId")
            .first(decodingColumn: "reviewId", as: Int64.self)
        guard let id else { throw APIError.internalError("review insert returned no id") }
        return Review(reviewId: id, movieId: movieId, content: content)
    }

    public static func save(_ review: Review, on database: any SQLDatabase) async throws {
        try await database.update(reviews.name)
            .set("content", to: SQLBind(review.content))
            .where("reviewId", .equal, SQLBind(review.reviewId))
            .run()
    }

    public static func deleteReviews(ofMovie movieId: Int64, on database: any SQLDatabase) async throws {
        try await database.delete(from: reviews.name).where("movieId", .equal, SQLBind(movieId)).run()
    }
}
