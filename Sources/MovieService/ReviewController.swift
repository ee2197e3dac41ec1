import CinemaEvents
import CinemaHTTP
import CinemaKit
import Hummingbird
import SQLKit

/// The customers' reviews: `/reviews`. `roomId` is accepted for `movieId`, as the original's
/// frontend sent it.
struct ReviewController: Controller {
    let persistence: Persistence

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.addResourceRoutes(ReviewRepository.self, persistence: persistence, create: write, edit: Self.edit, delete: Self.delete)
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
            let review = try await ReviewRepository.insertAssigningID(draft, on: database)
            try await events.record(ReviewCreated(review))
            return review
        }
        return try HAL.itemResponse(review, links: LinkBuilder(request: request), status: .created)
    }

    @Sendable static func edit(_ fields: RequestFields) throws -> ItemChange<Review> {
        let content: String?? = fields.contains("content") ? .some(try fields.string("content")) : .none
        let movieId = try fields.integer("movieId", aliases: ["roomId"])
        return { review in try review.edit(content: content, movieId: movieId) }
    }

    @Sendable static func delete(_ review: Review, _ database: any SQLDatabase, _ events: EventRecorder) async throws {
        try await events.record(ReviewDeleted(review))
    }
}
