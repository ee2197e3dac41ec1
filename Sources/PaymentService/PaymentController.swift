import CinemaEvents
import CinemaHTTP
import CinemaKit
import Hummingbird

/// `/payments`: taken synchronously by the reservation service, refunded through events.
struct PaymentController: Controller {
    let persistence: Persistence

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.get("payments/search/findByRsvId", use: findByReservation)
        routes.addResourceRoutes(PaymentRepository.self, persistence: persistence, create: pay, edit: Self.edit)
    }

    /// Idempotent per `rsvId`: a retried call gets the same payment back (200 instead of 201).
    /// Answers once PaymentApproved is on the topic (or after 2 s), so the topic shows it before
    /// the reservation it pays for, the order of the original's event log.
    @Sendable func pay(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let fields = try await RequestFields.read(from: request, context: context)
        let draft = Payment.approving(rsvId: try fields.requiredInteger("rsvId"), movieId: try fields.requiredInteger("movieId"))
        _ = try fields.choice("status", of: PaymentStatus.self, allowed: [.paid])
        let (payment, created) = try await persistence.transaction(
            metadata: eventMetadata(for: request), awaitingPublication: .seconds(2)
        ) { database, events in
            if let existing = try await PaymentRepository.find(rsvId: draft.rsvId, on: database) {
                guard existing.movieId == draft.movieId else {
                    throw DomainError.conflict(
                        "reservation \(draft.rsvId) was already paid for movie \(existing.movieId)", field: "movieId")
                }
                return (existing, false)
            }
            let payment = try await PaymentRepository.insertAssigningID(draft, on: database)
            try await events.record(PaymentApproved(payment))
            return (payment, true)
        }
        return try HAL.itemResponse(payment, links: LinkBuilder(request: request), status: created ? .created : .ok)
    }

    /// The only change a payment accepts is a refund: `status` → `cancelled`.
    @Sendable static func edit(_ fields: RequestFields) throws -> ItemChange<Payment> {
        let status = try fields.choice("status", of: PaymentStatus.self)
        return { payment in
            switch status {
            case .cancelled?:
                return payment.refund()
            case .paid? where payment.status == .cancelled:
                throw DomainError.conflict("a cancelled payment cannot be paid again", field: "status")
            case .paid?, nil:
                return nil
            }
        }
    }

    @Sendable func findByReservation(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let rsvId = try queryInteger(request, "rsvId")
        let payment = try await persistence.read { database in try await PaymentRepository.find(rsvId: rsvId, on: database) }
        guard let payment else { throw DomainError.notFound("no payment for reservation \(rsvId)") }
        return try HAL.itemResponse(payment, links: LinkBuilder(request: request))
    }
}
