public import CinemaEvents
public import CinemaKit
public import SQLKit

/// A payment call in flight, or whose outcome is unknown after a crash. Its id is the reservation
/// id to be; no reservation exists until the payment succeeded.
public struct PendingPayment: Codable, Sendable, Equatable {
    public var rsvId: Int64
    public var movieId: Int64
    /// Seconds since 1970.
    public var startedAt: Int64
    /// 1 once the reconciler has started to void it: the request that made the call may no
    /// longer turn it into a reservation (its payment is being refunded).
    public var voiding: Int64 = 0
}

/// The reservation table, the payment calls not settled yet, and the movies this service knows.
public enum ReservationRepository: Repository {
    public static let table = Table<Reservation>("reservation", idColumn: "rsvId", id: \.rsvId) {
        $0.column("rsvId", type: .bigint, .primaryKey(autoIncrement: false))
            .column("movieId", type: .bigint, .notNull)
            .column("status", type: .text)
            .column("payId", type: .bigint)
    }

    /// Allocates reservation ids (AUTOINCREMENT never hands one out twice, even after the row is
    /// gone) and remembers payment calls whose outcome is not settled yet.
    static let pendingPayments = Table<PendingPayment>("pending_payment", idColumn: "rsvId", id: \.rsvId) {
        $0.identityColumn("rsvId")
            .column("movieId", type: .bigint, .notNull)
            .column("startedAt", type: .bigint, .notNull)
            .column("voiding", type: .bigint, .notNull, .default(0))
    }

    /// The movies this service knows from MovieRegistered/MovieDeleted, so a reservation for an
    /// unknown movie is refused without calling the movie service (which may be down).
    static let knownMoviesTable = "known_movie"

    public static let schema: [SchemaStep] = [
        table.creation,
        pendingPayments.creation,
        pendingPayments.addingColumn("voiding", type: .bigint, .notNull, .default(0)),
        SchemaStep("create table known_movie") { database in
            try await database.create(table: knownMoviesTable).ifNotExists()
                .column("movieId", type: .bigint, .primaryKey(autoIncrement: false))
                .run()
        },
    ]

    /// Remembers a payment call about to be made and allocates the reservation id it is for.
    public static func beginPayment(movieId: Int64, now: Int64, on database: any SQLDatabase) async throws -> Int64 {
        try await pendingPayments.insertAssigningID(PendingPayment(rsvId: 0, movieId: movieId, startedAt: now), on: database).rsvId
    }

    public static func settlePayment(rsvId: Int64, on database: any SQLDatabase) async throws {
        try await pendingPayments.delete(rsvId, on: database)
    }

    /// Ends the call of a request whose payment succeeded, unless the reconciler has begun to
    /// void it (a call that took longer than the reconciler waits): false then, and the caller
    /// must not create the reservation. The row's lock (or SQLite's single writer) makes this and
    /// `claimForVoiding` exclusive: exactly one of them wins.
    public static func completePayment(rsvId: Int64, on database: any SQLDatabase) async throws -> Bool {
        try await database.delete(from: pendingPayments.name)
            .where("rsvId", .equal, SQLBind(rsvId)).where("voiding", .equal, SQLBind(Int64(0)))
            .returning("rsvId").first() != nil
    }

    /// The reconciler takes a stale call before voiding it; false when the request completed it
    /// meanwhile (the reservation exists: nothing to refund).
    public static func claimForVoiding(rsvId: Int64, on database: any SQLDatabase) async throws -> Bool {
        try await database.update(pendingPayments.name).set("voiding", to: SQLBind(Int64(1)))
            .where("rsvId", .equal, SQLBind(rsvId))
            .returning("rsvId").first() != nil
    }

    public static func isPaymentPending(rsvId: Int64, on database: any SQLDatabase) async throws -> Bool {
        try await pendingPayments.find(rsvId, on: database) != nil
    }

    public static func pendingPayments(startedBefore cutoff: Int64, on database: any SQLDatabase) async throws -> [PendingPayment] {
        try await database.select().columns("*").from(pendingPayments.name)
            .where("startedAt", .lessThan, SQLBind(cutoff)).orderBy("rsvId")
            .all(decoding: PendingPayment.self)
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
