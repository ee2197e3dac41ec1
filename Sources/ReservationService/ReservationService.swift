public import CinemaKit
public import Hummingbird
import Foundation
public import Logging
public import ServiceLifecycle

/// `/reservations`: a reservation exists only once its payment succeeded (synchronous call),
/// and cancelling starts the refund saga through events.
public struct ReservationController: Sendable {
    let persistence: Persistence
    let payments: any PaymentClient
    let logger: Logger

    public init(persistence: Persistence, payments: any PaymentClient, logger: Logger) {
        self.persistence = persistence
        self.payments = payments
        self.logger = logger
    }

    public func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.addReadRoutes(ReservationRepository.reservations, persistence: persistence)
        router.post("reservations", use: reserve)
        router.patch("reservations/:id", use: edit)
        router.put("reservations/:id", use: edit)
        router.delete("reservations/:id", use: delete)
    }

    @Sendable func reserve(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let fields = try await RequestFields.read(from: request, context: context)
        let movieId = try fields.requiredInteger("movieId")
        let status = try fields.choice("status", in: [ReservationStatus.requested]) ?? ReservationStatus.requested
        let metadata = eventMetadata(for: request)

        let rsvId = try await persistence.transaction(metadata: metadata) { database, _ in
            guard try await ReservationRepository.isKnownMovie(movieId, on: database) else {
                throw APIError.unprocessable("movieId \(movieId) is not a registered movie", field: "movieId")
            }
            return try await ReservationRepository.beginPayment(movieId: movieId, now: Self.now(), on: database)
        }

        do {
            _ = try await payments.pay(rsvId: rsvId, movieId: movieId, correlationId: metadata.correlationId)
        } catch .rejected(let paymentStatus, let message) {
            try await settle(rsvId, metadata)
            if paymentStatus >= 500 {
                throw Self.retryLater("payment failed (\(paymentStatus)); no reservation was made, retry later")
            }
            throw APIError.unprocessable("payment refused: \(message); no reservation was made")
        } catch .unreachable(let reason) {
            logger.warning("payment unreachable", metadata: ["reservation.id": "\(rsvId)", "error": "\(reason)"])
            try await settle(rsvId, metadata)
            throw Self.retryLater("payment service unavailable; no reservation was made, retry later")
        } catch .unavailable(let reason) {
            logger.warning("payment unavailable", metadata: ["reservation.id": "\(rsvId)", "error": "\(reason)"])
            await refundOrLeavePending(rsvId, metadata)
            throw Self.retryLater("payment service unavailable; no reservation was made, retry later")
        }

        let reservation = Reservation(rsvId: rsvId, movieId: movieId, status: status, payId: nil)
        do {
            try await persistence.transaction(metadata: metadata) { database, events in
                try await ReservationRepository.settlePayment(rsvId: rsvId, on: database)
                try await ReservationRepository.insert(reservation, on: database)
                try await events.record(ReservationCreated(reservation.snapshot))
            }
        } catch {
            // Paid but not reserved: give the money back before answering.
            logger.error("reservation not stored after payment; refunding", metadata: ["reservation.id": "\(rsvId)", "error": "\(error)"])
            await refundOrLeavePending(rsvId, metadata)
            throw error
        }
        return HAL.itemResponse(reservation, links: LinkBuilder(request: request), status: .created)
    }

    /// The only change a client makes to a reservation is asking to cancel it.
    @Sendable func edit(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        let fields = try await RequestFields.read(from: request, context: context)
        let status = try fields.string("status")
        let movieId = try fields.integer("movieId")
        let reservation = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            var reservation = try await ReservationRepository.reservations.require(id, on: database)
            if let movieId, movieId != reservation.movieId {
                throw APIError.unprocessable("a reservation cannot move to another movie", field: "movieId")
            }
            guard let status, status != reservation.status else { return reservation }
            guard status == ReservationStatus.cancelRequested else {
                throw APIError.badRequest("status can only be changed to \(ReservationStatus.cancelRequested)", field: "status")
            }
            guard reservation.status == ReservationStatus.requested || reservation.status == ReservationStatus.reserved else {
                throw APIError.conflict("reservation \(id) is \(reservation.status ?? "null") and cannot be cancelled", field: "status")
            }
            reservation.status = ReservationStatus.cancelRequested
            try await ReservationRepository.save(reservation, on: database)
            try await events.record(ReservationCancelRequested(reservation.snapshot))
            return reservation
        }
        return HAL.itemResponse(reservation, links: LinkBuilder(request: request))
    }

    /// Only a cancelled reservation may be deleted: anything else still holds a payment.
    @Sendable func delete(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        try await persistence.transaction(metadata: eventMetadata(for: request)) { database, _ in
            let reservation = try await ReservationRepository.reservations.require(id, on: database)
            guard reservation.status == ReservationStatus.cancelled else {
                throw APIError.conflict("reservation \(id) is \(reservation.status ?? "null"); cancel it first (PATCH status=reqCancel)")
            }
            try await ReservationRepository.reservations.delete(id, on: database)
        }
        return Response(status: .noContent)
    }

    private func settle(_ rsvId: Int64, _ metadata: EventMetadata) async throws {
        try await persistence.transaction(metadata: metadata) { database, _ in
            try await ReservationRepository.settlePayment(rsvId: rsvId, on: database)
        }
    }

    /// Whether payment charged is unknown: refund now, or leave the pending row to the reconciler.
    func refundOrLeavePending(_ rsvId: Int64, _ metadata: EventMetadata) async {
        do {
            try await payments.refund(rsvId: rsvId, correlationId: metadata.correlationId)
            try await settle(rsvId, metadata)
        } catch {
            logger.warning("refund deferred to the reconciler", metadata: ["reservation.id": "\(rsvId)", "error": "\(error)"])
        }
    }

    static func retryLater(_ message: String) -> APIError {
        APIError(.serviceUnavailable, message, headers: [.retryAfter: "5"])
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
}

/// Settles payment calls whose outcome was never learned (a crash mid-call, payment down during
/// the refund): the reservation was refused, so any payment taken for it is refunded.
public struct PaymentReconciler: Service {
    let controller: ReservationController
    let interval: Duration
    let settleAfterSeconds: Int64

    public init(controller: ReservationController, interval: Duration = .seconds(10), settleAfterSeconds: Int64 = 30) {
        self.controller = controller
        self.interval = interval
        self.settleAfterSeconds = settleAfterSeconds
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            await reconcileOnce()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    public func reconcileOnce() async {
        let cutoff = ReservationController.now() - settleAfterSeconds
        do {
            let stale = try await controller.persistence.read { database in
                try await ReservationRepository.pendingPayments(startedBefore: cutoff, on: database)
            }
            for pending in stale {
                await controller.refundOrLeavePending(pending.rsvId, .newCorrelation())
            }
        } catch {
            controller.logger.warning("payment reconciliation failed", metadata: ["error": "\(error)"])
        }
    }
}

public enum ReservationPolicies {
    public static var handlers: EventHandlers {
        var handlers = EventHandlers()
        handlers.on(PaymentApproved.self) { event, context in
            guard var reservation = try await ReservationRepository.reservations.find(event.rsvId, on: context.database) else {
                if try await ReservationRepository.isPaymentPending(rsvId: event.rsvId, on: context.database) {
                    throw RetryLater("reservation \(event.rsvId) is still being created")
                }
                context.logger.info("payment for a reservation that was refused", metadata: ["reservation.id": "\(event.rsvId)"])
                return
            }
            reservation.payId = event.payId
            if reservation.status == ReservationStatus.requested {
                reservation.status = ReservationStatus.reserved
                try await ReservationRepository.save(reservation, on: context.database)
                try await context.events.record(ReservationConfirmed(reservation.snapshot))
            } else {
                try await ReservationRepository.save(reservation, on: context.database)
            }
        }
        handlers.on(PaymentCancelled.self) { event, context in
            guard var reservation = try await ReservationRepository.reservations.find(event.rsvId, on: context.database) else {
                return
            }
            guard reservation.status != ReservationStatus.cancelled else { return }
            reservation.status = ReservationStatus.cancelled
            reservation.payId = event.payId
            try await ReservationRepository.save(reservation, on: context.database)
            try await context.events.record(ReservationCancelled(reservation.snapshot))
        }
        handlers.on(MovieRegistered.self) { event, context in
            try await ReservationRepository.rememberMovie(event.movieId, on: context.database)
        }
        handlers.on(MovieDeleted.self) { event, context in
            try await ReservationRepository.forgetMovie(event.movieId, on: context.database)
        }
        return handlers
    }
}

public enum ReservationService {
    public static func controller(_ environment: ServiceEnvironment) -> ReservationController {
        let paymentURL = environment.configuration.environment["PAYMENT_URL"] ?? "http://127.0.0.1:8081"
        return ReservationController(
            persistence: environment.persistence,
            payments: HTTPPaymentClient(baseURL: paymentURL),
            logger: environment.logger
        )
    }

    public static let definition = ServiceDefinition(
        name: "reservation",
        defaultPort: 8083,
        schema: ReservationRepository.schema,
        handlers: ReservationPolicies.handlers,
        backgroundServices: { environment in [PaymentReconciler(controller: controller(environment))] }
    ) { router, environment in
        controller(environment).addRoutes(to: router)
    }
}
