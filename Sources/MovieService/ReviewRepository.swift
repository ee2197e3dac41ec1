public import CinemaEvents
public import CinemaKit
public import SQLKit

/// The review table.
public enum ReviewRepository {
    public static let reviews = Table<Review>("review", idColumn: "reviewId", id: \.reviewId)

    public static let schema: [SchemaStep] = [
        SchemaStep { database in
            try await database.create(table: reviews.name).ifNotExists()
                .identityColumn("reviewId")
                .column("movieId", type: .bigint, .notNull)
                .column("content", type: .text)
                .run()
        }
    ]

    public static func require(_ reviewId: Int64, on database: any SQLDatabase) async throws -> Review {
        try await reviews.require(reviewId, on: database)
    }

    /// Stores a new review and returns it with the id the database gave it.
    public static func insert(_ review: Review, on database: any SQLDatabase) async throws -> Review {
        try await reviews.insertAssigningID(review, on: database)
    }

    public static func update(_ review: Review, on database: any SQLDatabase) async throws {
        try await reviews.update(review, on: database)
    }

    public static func delete(_ reviewId: Int64, on database: any SQLDatabase) async throws {
        try await reviews.delete(reviewId, on: database)
    }

    /// A deleted movie takes its reviews with it.
    public static func deleteAll(ofMovie movieId: Int64, on database: any SQLDatabase) async throws {
        try await database.delete(from: reviews.name).where("movieId", .equal, SQLBind(movieId)).run()
    }
}
