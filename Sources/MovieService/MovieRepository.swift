public import CinemaEvents
public import CinemaKit
public import SQLKit

/// The movie table: the published record's columns, then the seats.
public enum MovieRepository: Repository {
    public static let table = Table<MovieListing>("movie", idColumn: "movieId", id: \.movieId) {
        $0.identityColumn("movieId")
            .column("status", type: .text)
            .column("desc", type: .text)
            .column("reviewCnt", type: .bigint, .notNull)
            .column("lastAction", type: .text)
            .column("seats", type: .bigint)
            .column("reservedSeats", type: .bigint, .notNull, .default(0))
    }

    /// The seat columns came after the first release: a movie table from before gets them
    /// (unlimited seats, none reserved).
    public static var schema: [SchemaStep] {
        [
            table.creation,
            table.addingColumn("seats", type: .bigint),
            table.addingColumn("reservedSeats", type: .bigint, .notNull, .default(0)),
        ]
    }
}
