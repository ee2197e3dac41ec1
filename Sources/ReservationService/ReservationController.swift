import CinemaEvents
import CinemaHTTP
import CinemaKit
import Hummingbird
import SQLKit

/// `/reservations`: a reservation exists only once its payment succeeded (see `PaymentSaga`),
/// and cancelling starts the refund through events.
struct ReservationController: Controller {
    let persistence: Persistence
    let saga: PaymentSaga

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.addResourceRoutes(
            ReservationRepository.self, persistence: persistence, create: reserve, edit: Self.edit, delete: Self.delete)
    }

    @Sendable func reserve(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let fields = try await RequestFields.read(from: request, context: context)
        let movieId = try fields.requiredInteger("movieId")
        // The original's clients send `status=reqReserve`; it is the only status a new one can have.
        _ = try fields.choice("status", of: ReservationStatus.self, allowed: [.requested])
        let reservation = try await saga.reserve(movieId: movieId, metadata: eventMetadata(for: request))
        return try HAL.itemResponse(reservation, links: LinkBuilder(request: request), status: .created)
    }

    /// The only change a client makes to a reservation is asking to cancel it.
    @Sendable static func edit(_ fields: RequestFields) throws -> ItemChange<Reservation> {
        let status = try fields.string("status")
        let movieId = try fields.integer("movieId")
        return { reservation in
            if let movieId, movieId != reservation.movieId {
                throw DomainError.unprocessable("a reservation cannot move to another movie", field: "movieId")
            }
            guard let status, status != reservation.status.rawValue else { return nil }
            guard status == ReservationStatus.cancelRequested.rawValue else {
                throw DomainError.invalid("status can only be changed to \(ReservationStatus.cancelRequested.rawValue)", field: "status")
            }
            return try reservation.requestCancel()
        }
    }

    @Sendable static func delete(_ reservation: Reservation, _ database: any SQLDatabase, _ events: EventRecorder) async throws {
        try reservation.checkDeletable()
    }
}
