public import CinemaEvents
public import CinemaKit
public import SQLKit

/// The review table.
public enum ReviewRepository: Repository {
    public static let table = Table<Review>("review", idColumn: "reviewId", id: \.reviewId) {
        $0.identityColumn("reviewId")
            .column("movieId", type: .bigint, .notNull)
            .column("content", type: .text)
    }

    /// A deleted movie takes its reviews with it.
    public static func deleteAll(ofMovie movieId: Int64, on database: any SQLDatabase) async throws {
        try await database.delete(from: table.name).where("movieId", .equal, SQLBind(movieId)).run()
    }
}
