public import CinemaKit
public import SQLKit

/// A reservation whose payment was voided before any was taken: a payment call for it that
/// arrives later (it was still in flight when the reservation gave up) is refused.
public struct VoidedReservation: Codable, Sendable, Equatable {
    public var rsvId: Int64
    public var movieId: Int64
}

/// The voided reservations.
public enum VoidedReservationRepository: Repository {
    public static let table = Table<VoidedReservation>("voided_reservation", idColumn: "rsvId", id: \.rsvId) {
        $0.column("rsvId", type: .bigint, .primaryKey(autoIncrement: false))
            .column("movieId", type: .bigint, .notNull)
    }
}
