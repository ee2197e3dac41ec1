public import CinemaEvents
public import CinemaHTTP
public import CinemaKit

// A reservation's fields and statuses are the event contract's (`CinemaEvents.Reservation`).
// Its life: requested (paid) → reserved (payment approved) → cancel requested → cancelled
// (payment refunded). Every transition is here, with the event it announces.

extension Reservation: HALResource {
    public static let collectionName = "reservations"
    public var id: Int64 { rsvId }

    /// A reservation whose payment has just been taken.
    public static func paid(rsvId: Int64, movieId: Int64) -> Reservation {
        Reservation(rsvId: rsvId, movieId: movieId, status: .requested, payId: nil)
    }

    /// The payment was approved: a requested reservation becomes reserved and says so. A later
    /// approval (redelivered, or after a cancel request) only records the payment id.
    public mutating func confirm(payId: Int64) -> ReservationConfirmed? {
        self.payId = payId
        guard status == .requested else { return nil }
        status = .reserved
        return ReservationConfirmed(self)
    }

    /// The customer's request to cancel, which starts the refund.
    public mutating func requestCancel() throws(DomainError) -> ReservationCancelRequested {
        guard status == .requested || status == .reserved else {
            throw .conflict("reservation \(rsvId) is \(status.rawValue) and cannot be cancelled", field: "status")
        }
        status = .cancelRequested
        return ReservationCancelRequested(self)
    }

    /// The payment was refunded: the reservation is cancelled, once.
    public mutating func cancel(payId: Int64) -> ReservationCancelled? {
        guard status != .cancelled else { return nil }
        status = .cancelled
        self.payId = payId
        return ReservationCancelled(self)
    }

    /// Only a cancelled reservation may be deleted: anything else still holds a payment.
    public func checkDeletable() throws(DomainError) {
        guard status == .cancelled else {
            throw .conflict("reservation \(rsvId) is \(status.rawValue); cancel it first (PATCH status=reqCancel)")
        }
    }
}
