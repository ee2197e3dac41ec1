public import CinemaEvents
public import CinemaKit
public import SQLKit

/// The payment table.
public enum PaymentRepository {
    public static let payments = Table<Payment>("payment", idColumn: "payId", id: \.payId)

    public static let schema: [SchemaStep] = [
        SchemaStep { database in
            try await database.create(table: payments.name).ifNotExists()
                .identityColumn("payId")
                .column("rsvId", type: .bigint, .notNull, .unique)
                .column("movieId", type: .bigint, .notNull)
                .column("status", type: .text)
                .run()
        }
    ]

    public static func require(_ payId: Int64, on database: any SQLDatabase) async throws -> Payment {
        try await payments.require(payId, on: database)
    }

    public static func find(rsvId: Int64, on database: any SQLDatabase) async throws -> Payment? {
        try await payments.all(where: "rsvId", equals: rsvId, on: database).first
    }

    /// Stores a new payment and returns it with the id the database gave it.
    public static func insert(_ payment: Payment, on database: any SQLDatabase) async throws -> Payment {
        try await payments.insertAssigningID(payment, on: database)
    }

    public static func update(_ payment: Payment, on database: any SQLDatabase) async throws {
        try await payments.update(payment, on: database)
    }
}
