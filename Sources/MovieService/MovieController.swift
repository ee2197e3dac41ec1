import CinemaEvents
import CinemaJSON
public import CinemaHTTP
public import CinemaKit
public import Hummingbird

/// The manager's catalogue: `/movies`, and the original's availability check `/check`.
public struct MovieController: Sendable {
    let persistence: Persistence

    public init(persistence: Persistence) {
        self.persistence = persistence
    }

    public var endpoints: RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.addReadRoutes(MovieRepository.movies, persistence: persistence)
        routes.post("movies", use: register)
        routes.put("movies/:id", use: edit)
        routes.patch("movies/:id", use: edit)
        routes.delete("movies/:id", use: delete)
        routes.get("check/chkAndReqReserve", use: checkAvailability)
        return routes
    }

    @Sendable func register(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let fields = try await RequestFields.read(from: request, context: context)
        let draft = Movie.registering(
            desc: try fields.string("desc"),
            status: try fields.choice("status", of: MovieStatus.self) ?? .available
        )
        let movie = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            let movie = try await MovieRepository.insert(draft, on: database)
            try await events.record(MovieRegistered(movie))
            return movie
        }
        return try HAL.itemResponse(movie, links: LinkBuilder(request: request), status: .created)
    }

    /// PUT and PATCH both change only the fields sent: the original's frontend PUTs back whole
    /// HAL documents, read-only fields (`reviewCnt`, `lastAction`, `_links`) included.
    @Sendable func edit(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        let fields = try await RequestFields.read(from: request, context: context)
        let sentDesc = fields.contains("desc")
        let desc = try fields.string("desc")
        let status = try fields.choice("status", of: MovieStatus.self)
        let movie = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            var movie = try await MovieRepository.require(id, on: database)
            let modified = movie.edit { movie in
                if sentDesc { movie.desc = desc }
                if let status { movie.status = status }
            }
            if let modified {
                try await MovieRepository.update(movie, on: database)
                try await events.record(modified)
            }
            return movie
        }
        return try HAL.itemResponse(movie, links: LinkBuilder(request: request))
    }

    @Sendable func delete(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            let movie = try await MovieRepository.require(id, on: database)
            try await MovieRepository.delete(id, on: database)
            try await ReviewRepository.deleteAll(ofMovie: id, on: database)
            try await events.record(MovieDeleted(movie))
        }
        return Response(status: .noContent)
    }

    /// The original's availability check (disabled there): `true` when the movie exists and is available.
    @Sendable func checkAvailability(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let movieId = try queryInteger(request, "movieId")
        let movie = try await persistence.read { database in try await MovieRepository.find(movieId, on: database) }
        return JSONResponse.make(.bool(movie?.status == .available))
    }
}
