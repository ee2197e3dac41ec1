import CinemaEvents
public import CinemaHTTP
public import CinemaKit
public import Hummingbird

/// `/reservations`: a reservation exists only once its payment succeeded (see `PaymentSaga`),
/// and cancelling starts the refund through events.
public struct ReservationController: Sendable {
    let persistence: Persistence
    let saga: PaymentSaga

    public init(persistence: Persistence, saga: PaymentSaga) {
        self.persistence = persistence
        self.saga = saga
    }

    public var endpoints: RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.addReadRoutes(ReservationRepository.reservations, persistence: persistence)
        routes.post("reservations", use: reserve)
        routes.patch("reservations/:id", use: edit)
        routes.put("reservations/:id", use: edit)
        routes.delete("reservations/:id", use: delete)
        return routes
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
    @Sendable func edit(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        let fields = try await RequestFields.read(from: request, context: context)
        let status = try fields.string("status")
        let movieId = try fields.integer("movieId")
        let reservation = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            var reservation = try await ReservationRepository.require(id, on: database)
            if let movieId, movieId != reservation.movieId {
                throw DomainError.unprocessable("a reservation cannot move to another movie", field: "movieId")
            }
            guard let status, status != reservation.status.rawValue else { return reservation }
            guard status == ReservationStatus.cancelRequested.rawValue else {
                throw DomainError.invalid(
                    "status can only be changed to \(ReservationStatus.cancelRequested.rawValue)", field: "status")
            }
            let requested = try reservation.requestCancel()
            try await ReservationRepository.update(reservation, on: database)
            try await events.record(requested)
            return reservation
        }
        return try HAL.itemResponse(reservation, links: LinkBuilder(request: request))
    }

    @Sendable func delete(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        try await persistence.transaction(metadata: eventMetadata(for: request)) { database, _ in
            try await ReservationRepository.require(id, on: database).checkDeletable()
            try await ReservationRepository.delete(id, on: database)
        }
        return Response(status: .noContent)
    }
}
