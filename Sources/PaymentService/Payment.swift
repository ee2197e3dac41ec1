public import CinemaEvents
public import CinemaHTTP

// A payment's fields and statuses are the event contract's (`CinemaEvents.Payment`). At most one
// payment exists per `rsvId`, which makes the reservation service's synchronous call safe to retry.

extension Payment: HALResource {
    public static let collectionName = "payments"
    public var id: Int64 { payId }

    /// A payment as the reservation service takes it, before the database has given it an id.
    public static func approving(rsvId: Int64, movieId: Int64) -> Payment {
        Payment(payId: 0, rsvId: rsvId, movieId: movieId, status: .paid)
    }

    /// Refunds a paid payment. A payment already refunded stays as it is and announces nothing
    /// (the original emitted PaymentCancelled on any update).
    public mutating func refund() -> PaymentCancelled? {
        guard status != .cancelled else { return nil }
        status = .cancelled
        return PaymentCancelled(self)
    }
}
