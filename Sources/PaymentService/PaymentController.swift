import CinemaEvents
import CinemaHTTP
import CinemaJSON
import CinemaKit
import Hummingbird

/// `/payments`: taken synchronously by the reservation service, refunded through events.
struct PaymentController: Controller {
    let persistence: Persistence

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.get("payments/search/findByRsvId", use: findByReservation)
        routes.post("payments/voids", use: void)
        routes.addResourceRoutes(PaymentRepository.self, persistence: persistence, create: pay, edit: Self.edit)
    }

    /// Idempotent per `rsvId`: a retried call gets the same payment back (200 instead of 201).
    /// Answers once PaymentApproved is on the topic (or after 1 s, or at once while no broker
    /// answers), so the topic shows it before the reservation it pays for, the order of the
    /// original's event log. Kept under the reservation side's slow-call threshold (2 s).
    @Sendable func pay(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let fields = try await RequestFields.read(from: request, context: context)
        let draft = Payment.approving(rsvId: try fields.requiredInteger("rsvId"), movieId: try fields.requiredInteger("movieId"))
        _ = try fields.choice("status", of: PaymentStatus.self, allowed: [.paid])
        let (payment, created) = try await persistence.transaction(
            metadata: eventMetadata(for: request), awaitingPublication: .seconds(1)
        ) { database, events in
            if try await VoidedReservationRepository.find(draft.rsvId, on: database) != nil {
                throw DomainError.conflict("reservation \(draft.rsvId) was voided; no payment was taken", field: "rsvId")
            }
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

    /// Internal, for the reservation service when it does not know whether it paid: in one
    /// transaction, refunds the reservation's payment if there is one (PaymentCancelled), and
    /// otherwise records the reservation as voided so that a payment for it arriving later is
    /// refused. Idempotent. Answers `{"rsvId":…,"refunded":true|false}`.
    @Sendable func void(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let fields = try await RequestFields.read(from: request, context: context)
        let voided = VoidedReservation(rsvId: try fields.requiredInteger("rsvId"), movieId: try fields.requiredInteger("movieId"))
        let refunded = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            guard var payment = try await PaymentRepository.find(rsvId: voided.rsvId, on: database) else {
                if try await VoidedReservationRepository.find(voided.rsvId, on: database) == nil {
                    try await VoidedReservationRepository.insert(voided, on: database)
                }
                return false
            }
            if let refund = payment.refund() {
                try await PaymentRepository.update(payment, on: database)
                try await events.record(refund)
            }
            return true
        }
        return JSONResponse.make(.object([("rsvId", .integer(voided.rsvId)), ("refunded", .bool(refunded))]))
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
