public import CinemaKit
public import SQLKit

/// The movieview table.
public enum MovieViewRepository {
    public static let views = Table<MovieView>("movieview", idColumn: "movieId", id: \.movieId)

    public static let schema: [SchemaStep] = [
        SchemaStep { database in
            try await database.create(table: views.name).ifNotExists()
                .column("movieId", type: .bigint, .primaryKey(autoIncrement: false))
                .column("desc", type: .text)
                .column("reviewCnt", type: .bigint)
                .column("movieStatus", type: .text)
                .column("rsvId", type: .bigint)
                .column("rsvStatus", type: .text)
                .column("payId", type: .bigint)
                .column("payStatus", type: .text)
                .run()
        }
    ]

    public static func find(_ movieId: Int64, on database: any SQLDatabase) async throws -> MovieView? {
        try await views.find(movieId, on: database)
    }

    /// Stores the row, replacing one with the same movie id (a registration delivered again after
    /// a rebuild must not fail on the row it made the first time).
    public static func replace(_ view: MovieView, on database: any SQLDatabase) async throws {
        try await views.delete(view.movieId, on: database)
        try await views.insert(view, on: database)
    }

    public static func update(_ view: MovieView, on database: any SQLDatabase) async throws {
        try await views.update(view, on: database)
    }

    public static func delete(_ movieId: Int64, on database: any SQLDatabase) async throws {
        try await views.delete(movieId, on: database)
    }
}
