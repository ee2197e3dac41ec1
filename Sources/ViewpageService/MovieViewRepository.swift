public import CinemaKit
public import SQLKit

/// The movieview table.
public enum MovieViewRepository: Repository {
    public static let table = Table<MovieView>("movieview", idColumn: "movieId", id: \.movieId) {
        $0.column("movieId", type: .bigint, .primaryKey(autoIncrement: false))
            .column("desc", type: .text)
            .column("reviewCnt", type: .bigint)
            .column("movieStatus", type: .text)
            .column("rsvId", type: .bigint)
            .column("rsvStatus", type: .text)
            .column("payId", type: .bigint)
            .column("payStatus", type: .text)
    }

    /// Stores the row, replacing one with the same movie id (a registration delivered again after
    /// a rebuild must not fail on the row it made the first time).
    public static func replace(_ view: MovieView, on database: any SQLDatabase) async throws {
        try await delete(view.movieId, on: database)
        try await insert(view, on: database)
    }
}
