public import CinemaEvents
public import CinemaKit
public import SQLKit

/// The movie table.
public enum MovieRepository {
    public static let movies = Table<Movie>("movie", idColumn: "movieId", id: \.movieId)

    public static let schema: [SchemaStep] = [
        SchemaStep { database in
            try await database.create(table: movies.name).ifNotExists()
                .identityColumn("movieId")
                .column("status", type: .text)
                .column("desc", type: .text)
                .column("reviewCnt", type: .bigint, .notNull)
                .column("lastAction", type: .text)
                .run()
        }
    ]

    public static func find(_ movieId: Int64, on database: any SQLDatabase) async throws -> Movie? {
        try await movies.find(movieId, on: database)
    }

    public static func require(_ movieId: Int64, on database: any SQLDatabase) async throws -> Movie {
        try await movies.require(movieId, on: database)
    }

    /// Stores a new movie and returns it with the id the database gave it.
    public static func insert(_ movie: Movie, on database: any SQLDatabase) async throws -> Movie {
        try await movies.insertAssigningID(movie, on: database)
    }

    public static func update(_ movie: Movie, on database: any SQLDatabase) async throws {
        try await movies.update(movie, on: database)
    }

    public static func delete(_ movieId: Int64, on database: any SQLDatabase) async throws {
        try await movies.delete(movieId, on: database)
    }
}
