public import CinemaKit
import Logging
public import Hummingbird

/// `/payments`: taken synchronously by the reservation service, refunded through events.
public struct PaymentController: Sendable {
    let persistence: Persistence

    public init(persistence: Persistence) {
        self.persistence = persistence
    }

    public func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("payments/search/findByRsvId", use: findByReservation)
        router.addReadRoutes(PaymentRepository.payments, persistence: persistence)
        router.post("payments", use: pay)
        router.patch("payments/:id", use: edit)
        router.put("payments/:id", use: edit)
    }

    /// Idempotent per `rsvId`: a retried call gets the same payment back (200 instead of 201).
    @Sendable func pay(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let fields = try await RequestFields.read(from: request, context: context)
        let rsvId = try fields.requiredInteger("rsvId")
        let movieId = try fields.requiredInteger("movieId")
        _ = try fields.choice("status", in: [PaymentStatus.paid])
        let (payment, created) = try await persistence.transaction(
            metadata: eventMetadata(for: request), awaitingPublication: .seconds(2)
        ) { database, events in
            if let existing = try await PaymentRepository.find(rsvId: rsvId, on: database) {
                guard existing.movieId == movieId else {
                    throw APIError.conflict("reservation \(rsvId) was already paid for movie \(existing.movieId)", field: "movieId")
                }
                return (existing, false)
            }
            let payment = try await PaymentRepository.insert(rsvId: rsvId, movieId: movieId, on: database)
            try await events.record(PaymentApproved(payment.snapshot))
            return (payment, true)
        }
        return HAL.itemResponse(payment, links: LinkBuilder(request: request), status: created ? .created : .ok)
    }

    /// The only change a payment accepts is a refund: `status` → `cancelled`.
    @Sendable func edit(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        let fields = try await RequestFields.read(from: request, context: context)
        let status = try fields.choice("status", in: [PaymentStatus.paid, PaymentStatus.cancelled])
        let payment = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            let payment = try await PaymentRepository.payments.require(id, on: database)
            switch status {
            case PaymentStatus.cancelled?:
                return try await PaymentRepository.cancel(payment, events: events, on: database)
            case PaymentStatus.paid? where payment.status == PaymentStatus.cancelled:
                throw APIError.conflict("a cancelled payment cannot be paid again", field: "status")
            default:
                return payment
            }
        }
        return HAL.itemResponse(payment, links: LinkBuilder(request: request))
    }

    @Sendable func findByReservation(_ request: Request, context: BasicRequestContext) async throws -> Response {
        guard let text = request.uri.queryParameters["rsvId"] else {
            throw APIError.badRequest("rsvId is required", field: "rsvId")
        }
        guard let rsvId = Int64(text) else {
            throw APIError.badRequest("rsvId must be an integer, got \"\(text)\"", field: "rsvId")
        }
        guard let payment = try await persistence.read({ database in try await PaymentRepository.find(rsvId: rsvId, on: database) }) else {
            throw APIError.notFound("no payment for reservation \(rsvId)")
        }
        return HAL.itemResponse(payment, links: LinkBuilder(request: request))
    }
}

public enum PaymentPolicies {
    public static var handlers: EventHandlers {
        var handlers = EventHandlers()
        handlers.on(ReservationCancelRequested.self) { event, context in
            guard let payment = try await PaymentRepository.find(rsvId: event.rsvId, on: context.database) else {
                context.logger.warning("cancel requested for a reservation without payment", metadata: ["reservation.id": "\(event.rsvId)"])
                return
            }
            _ = try await PaymentRepository.cancel(payment, events: context.events, on: context.database)
        }
        return handlers
    }
}

public enum PaymentService {
    public static let definition = ServiceDefinition(
        name: "payment",
        defaultPort: 8081,
        schema: PaymentRepository.schema,
        handlers: PaymentPolicies.handlers
    ) { router, environment in
        PaymentController(persistence: environment.persistence).addRoutes(to: router)
    }
}
