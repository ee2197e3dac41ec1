import CinemaEvents
public import CinemaHTTP
public import CinemaKit
public import Hummingbird

/// The customers' reviews: `/reviews`. `roomId` is accepted for `movieId`, as the original's
/// frontend sent it.
public struct ReviewController: Sendable {
    let persistence: Persistence

    public init(persistence: Persistence) {
        self.persistence = persistence
    }

    public var endpoints: RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.addReadRoutes(ReviewRepository.reviews, persistence: persistence)
        routes.post("reviews", use: write)
        routes.put("reviews/:id", use: edit)
        routes.patch("reviews/:id", use: edit)
        routes.delete("reviews/:id", use: delete)
        return routes
    }

    @Sendable func write(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let fields = try await RequestFields.read(from: request, context: context)
        let draft = Review.writing(
            movieId: try fields.requiredInteger("movieId", aliases: ["roomId"]),
            content: try fields.string("content")
        )
        let review = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            guard try await MovieRepository.find(draft.movieId, on: database) != nil else {
                throw DomainError.unprocessable("movieId \(draft.movieId) is not a registered movie", field: "movieId")
            }
            let review = try await ReviewRepository.insert(draft, on: database)
            try await events.record(ReviewCreated(review))
            return review
        }
        return try HAL.itemResponse(review, links: LinkBuilder(request: request), status: .created)
    }

    @Sendable func edit(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        let fields = try await RequestFields.read(from: request, context: context)
        let content: String?? = fields.contains("content") ? .some(try fields.string("content")) : .none
        let movieId = try fields.integer("movieId", aliases: ["roomId"])
        let review = try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            var review = try await ReviewRepository.require(id, on: database)
            if let modified = try review.edit(content: content, movieId: movieId) {
                try await ReviewRepository.update(review, on: database)
                try await events.record(modified)
            }
            return review
        }
        return try HAL.itemResponse(review, links: LinkBuilder(request: request))
    }

    @Sendable func delete(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try itemID(context)
        try await persistence.transaction(metadata: eventMetadata(for: request)) { database, events in
            let review = try await ReviewRepository.require(id, on: database)
            try await ReviewRepository.delete(id, on: database)
            try await events.record(ReviewDeleted(review))
        }
        return Response(status: .noContent)
    }
}
