public import CinemaEvents
public import CinemaKit
public import SQLKit

/// The payment table.
public enum PaymentRepository: Repository {
    public static let table = Table<Payment>("payment", idColumn: "payId", id: \.payId) {
        $0.identityColumn("payId")
            .column("rsvId", type: .bigint, .notNull, .unique)
            .column("movieId", type: .bigint, .notNull)
            .column("status", type: .text)
    }

    public static func find(rsvId: Int64, on database: any SQLDatabase) async throws -> Payment? {
        try await table.all(where: "rsvId", equals: rsvId, on: database).first
    }
}
