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
public struct PaymentSaga: Sendable {
    let persistence: Persistence
    let payments: any PaymentClient
    let movies: any MovieCatalog
    let logger: Logger

    /// What a client is told to wait before retrying when payment is down.
    static let retryAfterSeconds = 5

    public init(persistence: Persistence, payments: any PaymentClient, movies: any MovieCatalog, logger: Logger) {
        self.persistence = persistence
        self.payments = payments
        self.movies = movies
        self.logger = logger
    }

    /// Pays for and stores a reservation of `movieId`; throws a `DomainError` saying why not.
    public func reserve(movieId: Int64, metadata: EventMetadata) async throws -> Reservation {
        try await checkRegistered(movieId, metadata)
        let rsvId = try await persistence.transaction(metadata: metadata) { database, _ in
            try await ReservationRepository.beginPayment(movieId: movieId, now: Self.now(), on: database)
        }

        do {
            _ = try await payments.pay(rsvId: rsvId, movieId: movieId, correlationId: metadata.correlationId)
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
            try await persistence.transaction(metadata: metadata) { database, events in
                try await ReservationRepository.settlePayment(rsvId: rsvId, on: database)
                try await ReservationRepository.insert(reservation, on: database)
                try await events.record(ReservationCreated(reservation))
            }
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
    /// learned: the reservation was refused, so any payment taken for it is refunded.
    public func settleStale(startedBefore cutoff: Int64) async throws {
        let stale = try await persistence.read { database in
            try await ReservationRepository.pendingPayments(startedBefore: cutoff, on: database)
        }
        for pending in stale {
            await voidOrLeavePending(pending.rsvId, pending.movieId, .newCorrelation())
        }
    }

    /// Whether payment charged is unknown: void it now (refund, and no payment later), or leave the
    /// pending row to the reconciler.
    private func voidOrLeavePending(_ rsvId: Int64, _ movieId: Int64, _ metadata: EventMetadata) async {
        do {
            try await payments.void(rsvId: rsvId, movieId: movieId, correlationId: metadata.correlationId)
            try await settle(rsvId, metadata)
        } catch {
            logger.warning("refund deferred to the reconciler", metadata: ["reservation.id": "\(rsvId)", "error": "\(error)"])
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
