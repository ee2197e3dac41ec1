public import CinemaKit
public import SQLKit

/// A payment for one reservation. At most one per `rsvId`, which makes the reservation
/// service's synchronous call safe to retry.
public struct Payment: HALResource, Decodable, Equatable {
    public var payId: Int64
    public var rsvId: Int64
    public var movieId: Int64
    public var status: String?

    public static let collectionName = "payments"
    public static let itemRelation = "payment"
    public var id: Int64 { payId }

    public var fields: [(String, JSONValue)] {
        [("payId", .integer(payId)), ("rsvId", .integer(rsvId)), ("movieId", .integer(movieId)), ("status", .string(status))]
    }

    public var snapshot: PaymentSnapshot {
        PaymentSnapshot(payId: payId, rsvId: rsvId, movieId: movieId, status: status)
    }
}

public enum PaymentStatus {
    public static let paid = "paid"
    public static let cancelled = "cancelled"
}

public enum PaymentRepository {
    public static let payments = Table<Payment>("payment", id: "payId")

    public static let schema: [SchemaStep] = [
        SchemaStep { database in
            try await database.create(table: payments.name).ifNotExists()
                .identityColumn("payId")
                .column("rsvId", type: .bigint, .notNull, .unique)
                .column("movieId", type: .bigint, .notNull)
                .column("status", type: .text)
                .run()
        },
    ]

    public static func find(rsvId: Int64, on database: any SQLDatabase) async throws -> Payment? {
        try await database.select().columns("*").from(payments.name)
            .where("rsvId", .equal, SQLBind(rsvId)).first(decoding: Payment.self)
    }

    public static func insert(rsvId: Int64, movieId: Int64, on database: any SQLDatabase) async throws -> Payment {
        let id = try await database.insert(into: payments.name)
            .columns("rsvId", "movieId", "status")
            .values(SQLBind(rsvId), SQLBind(movieId), SQLBind(PaymentStatus.paid))
            .returning("payId")
            .first(decodingColumn: "payId", as: Int64.self)
        guard let id else { throw APIError.internalError("payment insert returned no id") }
        return Payment(payId: id, rsvId: rsvId, movieId: movieId, status: PaymentStatus.paid)
    }

    /// Cancels (refunds) a paid payment and records PaymentCancelled; a payment that is already
    /// cancelled stays as it is and causes no event (the original emitted one on any update).
    public static func cancel(_ payment: Payment, events: EventRecorder, on database: any SQLDatabase) async throws -> Payment {
        guard payment.status != PaymentStatus.cancelled else { return payment }
        var cancelled = payment
        cancelled.status = PaymentStatus.cancelled
        try await database.update(payments.name)
            .set("status", to: SQLBind(PaymentStatus.cancelled))
            .where("payId", .equal, SQLBind(payment.payId))
            .run()
        try await events.record(PaymentCancelled(cancelled.snapshot))
        return cancelled
    }
}
