public import CinemaEvents
public import CinemaHTTP
public import CinemaKit

// A reservation's fields and statuses are the event contract's (`CinemaEvents.Reservation`).
// Its life: requested (paid) → reserved (payment approved) → cancel requested → cancelled
// (payment refunded); or, when the movie has no seat left for it, reserved → rejected (payment
// refunded). Every transition is here, with the event it announces.

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

    /// The movie refused it (sold out, deleted): rejected, once, which asks payment for the
    /// refund. A reservation the customer is already cancelling keeps that course (the same
    /// refund), and so does one that is cancelled.
    public mutating func reject() -> ReservationRejected? {
        guard status == .requested || status == .reserved else { return nil }
        status = .rejected
        return ReservationRejected(self)
    }

    /// The payment was refunded: a reservation being cancelled is cancelled, once. A rejected
    /// one stays rejected (its refund is the rejection's), and only records the refund.
    public mutating func cancel(payId: Int64) -> ReservationCancelled? {
        self.payId = payId
        guard status != .cancelled, status != .rejected else { return nil }
        status = .cancelled
        return ReservationCancelled(self)
    }

    /// Only a cancelled or rejected reservation may be deleted: anything else still holds a payment.
    public func checkDeletable() throws(DomainError) {
        guard status == .cancelled || status == .rejected else {
            throw .conflict("reservation \(rsvId) is \(status.rawValue); cancel it first (PATCH status=reqCancel)")
        }
    }
}
