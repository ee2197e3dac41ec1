public import CinemaKit
import Logging
public import Hummingbird

/// The manager's movie catalogue and the customers' reviews (`/movies`, `/reviews`, `/check`).
public struct MovieController: Sendable {
    let persistence: Persistence

    public init(persistence: Persistence) {
        self.persistence = persistence
    }

    public func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.addReadRoutes(MovieRepository.movies, persistence: persistence)
        router.addReadRoutes(MovieRepository.reviews, persistence: persistence)
        router.post("movies", use: createMovie)
        router.put("movies/:id", use: editMovie)
        router.patch("movies/:id", use: editMovie)
        router.delete("movies/:id", use: deleteMovie)
        router.post("reviews", use: createReview)
        router.put("reviews/:id", use: editReview)
        router.patch("reviews/:id", use: editReview)
        router.delete("reviews/:id", use: deleteReview)
        router.get("check/chkAndReqReserve", use: checkAvailability)
    }

    @Sendable func createMovie(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let fields = try await RequestFields.read(from: request, context: context)
        let desc = try fields.string("desc")
        let status = try fields.choice("status", in: MovieStatus.all) ?? MovieStatus.available
        let movie = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            let movie = try await MovieRepository.insertMovie(status: status, desc: desc, on: database)
            try await events.record(MovieRegistered(movie.snapshot))
            return movie
        }
        return HAL.itemResponse(movie, links: LinkBuilder(request: request), status: .created)
    }

    /// PUT and PATCH both change only the fields sent: the original's frontend PUTs back whole
    /// HAL documents, read-only fields (`reviewCnt`, `lastAction`, `_links`) included.
    @Sendable func editMovie(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        let fields = try await RequestFields.read(from: request, context: context)
        let desc = try fields.string("desc")
        let status = try fields.choice("status", in: MovieStatus.all)
        let movie = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            var movie = try await MovieRepository.movies.require(id, on: database)
            let before = movie
            if fields.contains("desc") { movie.desc = desc }
            if let status { movie.status = status }
            guard movie != before else { return movie }
            movie.lastAction = "modify"
            try await MovieRepository.save(movie, on: database)
            try await events.record(MovieModified(movie.snapshot))
            return movie
        }
        return HAL.itemResponse(movie, links: LinkBuilder(request: request))
    }

    @Sendable func deleteMovie(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            let movie = try await MovieRepository.movies.require(id, on: database)
            try await MovieRepository.movies.delete(id, on: database)
            try await MovieRepository.deleteReviews(ofMovie: id, on: database)
            try await events.record(MovieDeleted(movie.snapshot))
        }
        return Response(status: .noContent)
    }

    @Sendable func createReview(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let fields = try await RequestFields.read(from: request, context: context)
        let movieId = try fields.requiredInteger("movieId", aliases: ["roomId"])
        let content = try fields.string("content")
        let review = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            guard try await MovieRepository.movies.find(movieId, on: database) != nil else {
                throw APIError.unprocessable("movieId \(movieId) is not a registered movie", field: "movieId")
            }
            let review = try await MovieRepository.insertReview(movieId: movieId, content: content, on: database)
            try await events.record(ReviewCreated(review.snapshot))
            return review
        }
        return HAL.itemResponse(review, links: LinkBuilder(request: request), status: .created)
    }

    @Sendable func editReview(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        let fields = try await RequestFields.read(from: request, context: context)
        let content = try fields.string("content")
        let movieId = try fields.integer("movieId", aliases: ["roomId"])
        let review = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            var review = try await MovieRepository.reviews.require(id, on: database)
            if let movieId, movieId != review.movieId {
                throw APIError.unprocessable("a review cannot move to another movie", field: "movieId")
            }
            guard fields.contains("content"), content != review.content else { return review }
            review.content = content
            try await MovieRepository.save(review, on: database)
            try await events.record(ReviewModified(review.snapshot))
            return review
        }
        return HAL.itemResponse(review, links: LinkBuilder(request: request))
    }

    @Sendable func deleteReview(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            let review = try await MovieRepository.reviews.require(id, on: database)
            try await MovieRepository.reviews.delete(id, on: database)
            try await events.record(ReviewDeleted(review.snapshot))
        }
        return Response(status: .noContent)
    }

    /// The original's availability check (disabled there): `true` when the movie exists and is available.
    @Sendable func checkAvailability(_ request: Request, context: BasicRequestContext) async throws -> Response {
        guard let text = request.uri.queryParameters["movieId"] else {
            throw APIError.badRequest("movieId is required", field: "movieId")
        }
        guard let movieId = Int64(text) else {
            throw APIError.badRequest("movieId must be an integer, got \"\(text)\"", field: "movieId")
        }
        let movie = try await persistence.read { database in try await MovieRepository.movies.find(movieId, on: database) }
        return JSONResponse.make(.bool(movie?.status == MovieStatus.available))
    }
}
