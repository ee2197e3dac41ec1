public import CinemaEvents
public import CinemaKit
import Foundation
public import Logging

/// No reservation without payment, and no payment left without its reservation.
///
/// Reserving allocates the reservation id, records the payment call as pending, calls payment
/// synchronously, and only then stores the reservation with ReservationCreated. Whatever happens
/// between those steps leaves either nothing charged or a pending row, which `settleStale` (run
/// by `PaymentReconciler`) resolves by refunding. The HTTP controller and the reconciler both work
/// through this type.
///
/// Every call to payment (pay and void) goes through one circuit breaker. The saga consults it
/// itself rather than through a `PaymentClient` decorator, because what a refusal means depends on
/// the step: a reservation refused by an open breaker must be refused before an id and a pending
/// row exist (nothing charged, nothing to reconcile), which a decorator called after the id is
/// allocated cannot do; and a void the breaker refuses is left to the reconciler, not waited for.
public struct PaymentSaga: Sendable {
    let persistence: Persistence
    let payments: any PaymentClient
    let movies: any MovieCatalog
    /// Guards every call to payment; `/ready` shows its state.
    public let paymentBreaker: CircuitBreaker
    let logger: Logger

    /// What a client is told to wait before retrying when payment is down.
    static let retryAfterSeconds = 5

    public init(
        persistence: Persistence, payments: any PaymentClient, movies: any MovieCatalog, paymentBreaker: CircuitBreaker, logger: Logger
    ) {
        self.persistence = persistence
        self.payments = payments
        self.movies = movies
        self.paymentBreaker = paymentBreaker
        self.logger = logger
    }

    /// Pays for and stores a reservation of `movieId`; throws a `DomainError` saying why not.
    public func reserve(movieId: Int64, metadata: EventMetadata) async throws -> Reservation {
        try await checkRegistered(movieId, metadata)
        // Asked before anything is written: refused here, the request leaves no trace.
        let permit = try permitPaymentCall()
        let rsvId: Int64
        do {
            rsvId = try await persistence.transaction(metadata: metadata) { database, _ in
                try await ReservationRepository.beginPayment(movieId: movieId, now: Self.now(), on: database)
            }
        } catch {
            paymentBreaker.release(permit)
            throw error
        }

        do {
            _ = try await guarded(permit) { () async throws(PaymentCallError) in
                try await payments.pay(rsvId: rsvId, movieId: movieId, correlationId: metadata.correlationId)
            }
        } catch .rejected(_, let message) {
            try await settle(rsvId, metadata)
            throw DomainError.unprocessable("payment refused: \(message); no reservation was made")
        } catch .unreachable(let reason) {
            logger.warning("payment unreachable", metadata: ["reservation.id": "\(rsvId)", "error": "\(reason)"])
            try await settle(rsvId, metadata)
            throw Self.retryLater("payment service unavailable; no reservation was made, retry later")
        } catch .unavailable(let reason) {
            logger.warning("payment unavailable", metadata: ["reservation.id": "\(rsvId)", "error": "\(reason)"])
            await voidOrLeavePending(rsvId, movieId, metadata)
            throw Self.retryLater("payment service unavailable; no reservation was made, retry later")
        }

        let reservation = Reservation.paid(rsvId: rsvId, movieId: movieId)
        do {
            let completed = try await persistence.transaction(metadata: metadata) { database, events in
                guard try await ReservationRepository.completePayment(rsvId: rsvId, on: database) else { return false }
                try await ReservationRepository.insert(reservation, on: database)
                try await events.record(ReservationCreated(reservation))
                return true
            }
            guard completed else {
                // The call took so long that the reconciler is refunding it already: the client
                // is told no reservation was made, which is true.
                logger.warning("payment call outlived the reconciler's wait; refunded", metadata: ["reservation.id": "\(rsvId)"])
                throw Self.retryLater("the payment took too long and is being refunded; no reservation was made, retry later")
            }
        } catch let error as DomainError {
            throw error
        } catch {
            // Paid but not reserved: give the money back before answering.
            logger.error("reservation not stored after payment; refunding", metadata: ["reservation.id": "\(rsvId)", "error": "\(error)"])
            await voidOrLeavePending(rsvId, movieId, metadata)
            throw error
        }
        return reservation
    }

    /// A movie this service has seen registered, or one the movie service says exists (its
    /// registration event may not have arrived yet). With the movie service down, the movies
    /// known here can still be reserved; an unknown one cannot be checked, so: retry later.
    private func checkRegistered(_ movieId: Int64, _ metadata: EventMetadata) async throws {
        let known = try await persistence.read { database in try await ReservationRepository.isKnownMovie(movieId, on: database) }
        guard !known else { return }
        switch await movies.lookUp(movieId: movieId, correlationId: metadata.correlationId) {
        case .registered:
            return
        case .unknown:
            throw DomainError.unprocessable("movieId \(movieId) is not a registered movie", field: "movieId")
        case .unavailable(let reason):
            logger.warning("movie service unavailable", metadata: ["movie.id": "\(movieId)", "error": "\(reason)"])
            throw Self.retryLater("movie \(movieId) is not known here and the movie service cannot confirm it; retry later")
        }
    }

    /// Settles payment calls started before `cutoff` (seconds since 1970) whose outcome was never
    /// learned: the reservation was refused, so any payment taken for it is refunded. A pass stops
    /// at the first void that does not go through (payment failing, or the breaker refusing): the
    /// rest would only wait for the same timeout one after the other, or be refused too, and wait
    /// for the next pass. Returns how many were settled.
    @discardableResult
    public func settleStale(startedBefore cutoff: Int64) async throws -> Int {
        let stale = try await persistence.read { database in
            try await ReservationRepository.pendingPayments(startedBefore: cutoff, on: database)
        }
        var settled = 0
        for pending in stale {
            // Taken first, so the request that made the call, if it is still running, can no
            // longer create the reservation whose payment this refunds.
            let claimed = try await persistence.transaction(metadata: .newCorrelation()) { database, _ in
                try await ReservationRepository.claimForVoiding(rsvId: pending.rsvId, on: database)
            }
            guard claimed else { continue }
            guard await voidOrLeavePending(pending.rsvId, pending.movieId, .newCorrelation()) else {
                logger.info(
                    "reconciliation pass stopped; the remaining payment calls wait for the next one",
                    metadata: ["reconciliation.calls.left": "\(stale.count - settled)"])
                break
            }
            settled += 1
        }
        return settled
    }

    /// Whether payment charged is unknown: void it now (refund, and no payment later), or leave the
    /// pending row to the reconciler. While the breaker is open the void is not even tried: it
    /// would most likely wait for the whole call timeout again, on top of the one the client
    /// already waited for. Returns whether the call was settled.
    @discardableResult
    private func voidOrLeavePending(_ rsvId: Int64, _ movieId: Int64, _ metadata: EventMetadata) async -> Bool {
        guard case .permitted(let permit) = paymentBreaker.acquirePermission() else {
            logger.info("refund left to the reconciler: the payment circuit breaker is open", metadata: ["reservation.id": "\(rsvId)"])
            return false
        }
        do {
            try await guarded(permit) { () async throws(PaymentCallError) in
                try await payments.void(rsvId: rsvId, movieId: movieId, correlationId: metadata.correlationId)
            }
            try await settle(rsvId, metadata)
            return true
        } catch {
            logger.warning("refund deferred to the reconciler", metadata: ["reservation.id": "\(rsvId)", "error": "\(error)"])
            return false
        }
    }

    /// A permit for a payment call, or the retry-later answer while the breaker refuses calls:
    /// at once, with the time left until it lets a trial call through (at least a second).
    private func permitPaymentCall() throws(DomainError) -> CircuitBreaker.Permit {
        switch paymentBreaker.acquirePermission() {
        case .permitted(let permit):
            return permit
        case .rejected(let retryAfter):
            let (whole, fraction) = retryAfter.components
            let seconds = max(1, Int(whole) + (fraction > 0 ? 1 : 0))
            throw DomainError.unavailable(
                "payment is failing or overloaded; no reservation was made, retry in \(seconds) s", retryAfterSeconds: seconds)
        }
    }

    /// Runs one payment call under `permit` and tells the breaker how it went. Payment answering
    /// no (a 4xx) is a payment that works; not answering, not in time, or with a 5xx or junk is not.
    private func guarded<Value>(
        _ permit: CircuitBreaker.Permit, _ call: () async throws(PaymentCallError) -> Value
    ) async throws(PaymentCallError) -> Value {
        do {
            let value = try await call()
            paymentBreaker.record(.success, of: permit)
            return value
        } catch {
            switch error {
            case .rejected: paymentBreaker.record(.success, of: permit)
            case .unreachable, .unavailable: paymentBreaker.record(.failure, of: permit)
            }
            throw error
        }
    }

    private func settle(_ rsvId: Int64, _ metadata: EventMetadata) async throws {
        try await persistence.transaction(metadata: metadata) { database, _ in
            try await ReservationRepository.settlePayment(rsvId: rsvId, on: database)
        }
    }

    static func retryLater(_ message: String) -> DomainError {
        .unavailable(message, retryAfterSeconds: retryAfterSeconds)
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
}
