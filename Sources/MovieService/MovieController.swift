import CinemaEvents
import CinemaHTTP
import CinemaJSON
import CinemaKit
import Hummingbird
import SQLKit

/// The manager's catalogue: `/movies`, and the original's availability check `/check`.
struct MovieController: Controller {
    let persistence: Persistence

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.addResourceRoutes(MovieRepository.self, persistence: persistence, create: register, edit: Self.edit, delete: Self.delete)
        routes.get("check/chkAndReqReserve", use: checkAvailability)
    }

    @Sendable func register(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let fields = try await RequestFields.read(from: request, context: context)
        let draft = MovieListing.registering(
            desc: try fields.string("desc"),
            status: try fields.choice("status", of: MovieStatus.self) ?? .available,
            seats: try Self.seats(fields)
        )
        let movie = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            let movie = try await MovieRepository.insertAssigningID(draft, on: database)
            try await events.record(MovieRegistered(movie.movie))
            return movie
        }
        return try HAL.itemResponse(movie, links: LinkBuilder(request: request), status: .created)
    }

    /// `seats`: absent or null for unlimited, else a whole number from 0 up.
    static func seats(_ fields: RequestFields) throws -> Int64? {
        guard let seats = try fields.integer("seats") else { return nil }
        guard seats >= 0 else { throw APIError.badRequest("seats must be 0 or more, got \(seats)", field: "seats") }
        return seats
    }

    /// The manager may change `desc`, `status` and `seats` (null: unlimited); `reviewCnt`,
    /// `lastAction` and `reservedSeats` are the service's. A change of seats alone is not
    /// announced: the movie's events carry the original's record, which has none.
    @Sendable static func edit(_ fields: RequestFields) throws -> ItemChange<MovieListing> {
        let sentDesc = fields.contains("desc")
        let desc = try fields.string("desc")
        let status = try fields.choice("status", of: MovieStatus.self)
        let sentSeats = fields.contains("seats")
        let seats = try Self.seats(fields)
        return { listing in
            if sentSeats { try listing.changeSeats(to: seats) }
            return listing.movie.edit { movie in
                if sentDesc { movie.desc = desc }
                if let status { movie.status = status }
            }
        }
    }

    /// A deleted movie takes its reviews and its record of live reservations with it.
    @Sendable static func delete(_ listing: MovieListing, _ database: any SQLDatabase, _ events: EventRecorder) async throws {
        try await ReviewRepository.deleteAll(ofMovie: listing.movieId, on: database)
        try await database.delete(from: MovieReservationRepository.table.name).where("movieId", .equal, SQLBind(listing.movieId)).run()
        try await events.record(MovieDeleted(listing.movie))
    }

    /// The original's availability check (disabled there): `true` when the movie exists and is available.
    @Sendable func checkAvailability(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let movieId = try queryInteger(request, "movieId")
        let movie = try await persistence.read { database in try await MovieRepository.find(movieId, on: database) }
        return JSONResponse.make(.bool(movie?.status == .available))
    }
}
