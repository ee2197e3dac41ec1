public import CinemaKit
import Logging
public import SQLKit

public struct Reservation: HALResource, Decodable, Equatable {
    public var rsvId: Int64
    public var movieId: Int64
    public var status: String?
    public var payId: Int64?

    public static let collectionName = "reservations"
    public static let itemRelation = "reservation"
    public var id: Int64 { rsvId }

    public var fields: [(String, JSONValue)] {
        [("rsvId", .integer(rsvId)), ("movieId", .integer(movieId)), ("status", .string(status)), ("payId", .integer(payId))]
    }

    public var snapshot: ReservationSnapshot {
        ReservationSnapshot(rsvId: rsvId, movieId: movieId, status: status, payId: payId)
    }
}

public enum ReservationStatus {
    public static let requested = "reqReserve"
    public static let reserved = "reserved"
    public static let cancelRequested = "reqCancel"
    public static let cancelled = "cancelled"
}

/// A reservation whose payment call is in flight (or whose outcome is unknown after a crash).
/// Its id is the reservation id to be; no reservation exists until the payment succeeded.
public struct PendingPayment: Decodable, Sendable, Equatable {
    public var rsvId: Int64
    public var movieId: Int64
    public var startedAt: Int64
}

public enum ReservationRepository {
    public static let reservations = Table<Reservation>("reservation", id: "rsvId")
    static let pendingTable = "pending_payment"
    static let knownMoviesTable = "known_movie"

    public static let schema: [SchemaStep] = [
        SchemaStep { database in
            try await database.create(table: reservations.name).ifNotExists()
                .column("rsvId", type: .bigint, .primaryKey(autoIncrement: false))
                .column("movieId", type: .bigint, .notNull)
                .column("status", type: .text)
                .column("payId", type: .bigint)
                .run()
        },
        // Allocates reservation ids (AUTOINCREMENT never hands one out twice, even after the row
        // is gone) and remembers payment calls whose outcome is not settled yet.
        SchemaStep { database in
            try await database.create(table: pendingTable).ifNotExists()
                .identityColumn("rsvId")
                .column("movieId", type: .bigint, .notNull)
                .column("startedAt", type: .bigint, .notNull)
                .run()
        },
        // The movies this service knows from MovieRegistered/MovieDeleted, so a reservation for an
        // unknown movie is refused without calling the movie service (which may be down).
        SchemaStep { database in
            try await database.create(table: knownMoviesTable).ifNotExists()
                .column("movieId", type: .bigint, .primaryKey(autoIncrement: false))
                .run()
        },
    ]

    public static func beginPayment(movieId: Int64, now: Int64, on database: any SQLDatabase) async throws -> Int64 {
        let id = try await database.insert(into: pendingTable)
            .columns("movieId", "startedAt")
            .values(SQLBind(movieId), SQLBind(now))
            .returning("rsvId")
            .first(decodingColumn: "rsvId", as: Int64.self)
        guard let id else { throw APIError.internalError("reservation id allocation failed") }
        return id
    }

    public static func settlePayment(rsvId: Int64, on database: any SQLDatabase) async throws {
        try await database.delete(from: pendingTable).where("rsvId", .equal, SQLBind(rsvId)).run()
    }

    public static func isPaymentPending(rsvId: Int64, on database: any SQLDatabase) async throws -> Bool {
        try await database.select().column("rsvId").from(pendingTable).where("rsvId", .equal, SQLBind(rsvId)).first() != nil
    }

    public static func pendingPayments(startedBefore cutoff: Int64, on database: any SQLDatabase) async throws -> [PendingPayment] {
        try await database.select().columns("*").from(pendingTable)
            .where("startedAt", .lessThan, SQLBind(cutoff)).orderBy("rsvId")
            .all(decoding: PendingPayment.self)
    }

    public static func insert(_ reservation: Reservation, on database: any SQLDatabase) async throws {
        try await database.insert(into: reservations.name)
            .columns("rsvId", "movieId", "status", "payId")
            .values(SQLBind(reservation.rsvId), SQLBind(reservation.movieId), SQLBind(reservation.status), SQLBind(reservation.payId))
            .run()
    }

    public static func save(_ reservation: Reservation, on database: any SQLDatabase) async throws {
        try await database.update(reservations.name)
            .set("status", to: SQLBind(reservation.status))
            .set("payId", to: SQLBind(reservation.payId))
            .where("rsvId", .equal, SQLBind(reservation.rsvId))
            .run()
    }

    public static func rememberMovie(_ movieId: Int64, on database: any SQLDatabase) async throws {
        guard try await isKnownMovie(movieId, on: database) == false else { return }
        try await database.insert(into: knownMoviesTable).columns("movieId").values(SQLBind(movieId)).run()
    }

    public static func forgetMovie(_ movieId: Int64, on database: any SQLDatabase) async throws {
        try await database.delete(from: knownMoviesTable).where("movieId", .equal, SQLBind(movieId)).run()
    }

    public static func isKnownMovie(_ movieId: Int64, on database: any SQLDatabase) async throws -> Bool {
        try await database.select().column("movieId").from(knownMoviesTable)
            .where("movieId", .equal, SQLBind(movieId)).first() != nil
    }
}
