public import CinemaKit
public import SQLKit

/// A confirmed reservation that still holds its movie: the movie is `reserved` while it has any.
public struct MovieReservation: Codable, Sendable, Equatable {
    public var rsvId: Int64
    public var movieId: Int64
}

/// The live reservations of each movie, kept from ReservationConfirmed and ReservationCancelled.
public enum MovieReservationRepository: Repository {
    public static let table = Table<MovieReservation>("movie_reservation", idColumn: "rsvId", id: \.rsvId) {
        $0.column("rsvId", type: .bigint, .primaryKey(autoIncrement: false))
            .column("movieId", type: .bigint, .notNull)
    }

    /// Counted per movie for every confirmation (its seats): by the index, not a scan of every live reservation.
    public static var schema: [SchemaStep] { [table.creation, table.addingIndex(on: "movieId")] }

    /// Records the reservation as live; a redelivered confirmation changes nothing.
    public static func hold(_ reservation: MovieReservation, on database: any SQLDatabase) async throws {
        guard try await find(reservation.rsvId, on: database) == nil else { return }
        try await insert(reservation, on: database)
    }

    public static func count(ofMovie movieId: Int64, on database: any SQLDatabase) async throws -> Int {
        try await database.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from(table.name).where("movieId", .equal, SQLBind(movieId))
            .first(decodingColumn: "n", as: Int.self) ?? 0
    }
}
