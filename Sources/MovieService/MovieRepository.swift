public import CinemaEvents
public import CinemaKit
public import SQLKit

/// The movie table.
public enum MovieRepository: Repository {
    public static let table = Table<Movie>("movie", idColumn: "movieId", id: \.movieId) {
        $0.identityColumn("movieId")
            .column("status", type: .text)
            .column("desc", type: .text)
            .column("reviewCnt", type: .bigint, .notNull)
            .column("lastAction", type: .text)
    }
}
