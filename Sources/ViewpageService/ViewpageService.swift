public import CinemaKit
import Logging
import SQLKit

/// One row per movie with its latest reservation and payment: the "viewpage" read model (CQRS).
public struct MovieView: HALResource, Decodable, Equatable {
    public var movieId: Int64
    public var desc: String?
    public var reviewCnt: Int64?
    public var movieStatus: String?
    public var rsvId: Int64?
    public var rsvStatus: String?
    public var payId: Int64?
    public var payStatus: String?

    public init(
        movieId: Int64, desc: String? = nil, reviewCnt: Int64? = nil, movieStatus: String? = nil,
        rsvId: Int64? = nil, rsvStatus: String? = nil, payId: Int64? = nil, payStatus: String? = nil
    ) {
        self.movieId = movieId
        self.desc = desc
        self.reviewCnt = reviewCnt
        self.movieStatus = movieStatus
        self.rsvId = rsvId
        self.rsvStatus = rsvStatus
        self.payId = payId
        self.payStatus = payStatus
    }

    public static let collectionName = "movieviews"
    public static let itemRelation = "movieview"
    public var id: Int64 { movieId }

    public var fields: [(String, JSONValue)] {
        [
            ("movieId", .integer(movieId)), ("desc", .string(desc)), ("reviewCnt", .integer(reviewCnt)),
            ("movieStatus", .string(movieStatus)), ("rsvId", .integer(rsvId)), ("rsvStatus", .string(rsvStatus)),
            ("payId", .integer(payId)), ("payStatus", .string(payStatus)),
        ]
    }
}

public enum MovieViewRepository {
    public static let views = Table<MovieView>("movieview", id: "movieId")

    public static let schema: [SchemaStep] = [
        SchemaStep { database in
            try await database.create(table: views.name).ifNotExists()
                .column("movieId", type: .bigint, .primaryKey(autoIncrement: false))
                .column("desc", type: .text)
                .column("reviewCnt", type: .bigint)
                .column("movieStatus", type: .text)
                .column("rsvId", type: .bigint)
                .column("rsvStatus", type: .text)
                .column("payId", type: .bigint)
                .column("payStatus", type: .text)
                .run()
        },
    ]

    static func insert(_ view: MovieView, on database: any SQLDatabase) async throws {
        try await database.insert(into: views.name)
            .columns("movieId", "desc", "reviewCnt", "movieStatus", "rsvId", "rsvStatus", "payId", "payStatus")
            .values(
                SQLBind(view.movieId), SQLBind(view.desc), SQLBind(view.reviewCnt), SQLBind(view.movieStatus),
                SQLBind(view.rsvId), SQLBind(view.rsvStatus), SQLBind(view.payId), SQLBind(view.payStatus)
            )
            .run()
    }

    /// Sets the given columns of the movie's row; a movie the view has never seen is skipped
    /// (its registration is the only event that creates a row).
    static func update(_ movieId: Int64, _ columns: [(String, any Encodable & Sendable)], _ context: HandlerContext) async throws {
        guard try await views.find(movieId, on: context.database) != nil else {
            context.logger.info("event for a movie not in the view", metadata: ["movie.id": "\(movieId)"])
            return
        }
        var update = context.database.update(views.name)
        for (column, value) in columns { update = update.set(SQLIdentifier(column), to: SQLBind(value)) }
        try await update.where("movieId", .equal, SQLBind(movieId)).run()
    }
}

/// The view handlers of the original, one per event it listed.
public enum ViewpagePolicies {
    public static var handlers: EventHandlers {
        var handlers = EventHandlers()
        handlers.on(MovieRegistered.self) { event, context in
            // A redelivered registration after a rebuild must not fail on the existing row.
            try await MovieViewRepository.views.delete(event.movieId, on: context.database)
            try await MovieViewRepository.insert(
                MovieView(movieId: event.movieId, desc: event.desc, reviewCnt: event.reviewCnt, movieStatus: event.status),
                on: context.database
            )
        }
        handlers.on(MovieModified.self) { event, context in
            try await MovieViewRepository.update(
                event.movieId, [("desc", event.desc), ("reviewCnt", event.reviewCnt), ("movieStatus", event.status)], context
            )
        }
        handlers.on(MovieReserved.self) { event, context in
            try await MovieViewRepository.update(event.movieId, [("movieStatus", event.status)], context)
        }
        handlers.on(MovieCancelled.self) { event, context in
            try await MovieViewRepository.update(event.movieId, [("movieStatus", event.status)], context)
        }
        handlers.on(MovieDeleted.self) { event, context in
            try await MovieViewRepository.views.delete(event.movieId, on: context.database)
        }
        handlers.on(ReservationConfirmed.self) { event, context in
            try await MovieViewRepository.update(event.movieId, [("rsvId", event.rsvId), ("rsvStatus", event.status)], context)
        }
        handlers.on(ReservationCancelled.self) { event, context in
            try await MovieViewRepository.update(event.movieId, [("rsvStatus", event.status)], context)
        }
        handlers.on(PaymentApproved.self) { event, context in
            try await MovieViewRepository.update(event.movieId, [("payId", event.payId), ("payStatus", event.status)], context)
        }
        handlers.on(PaymentCancelled.self) { event, context in
            try await MovieViewRepository.update(event.movieId, [("payStatus", event.status)], context)
        }
        return handlers
    }
}

public enum ViewpageService {
    public static let definition = ServiceDefinition(
        name: "viewpage",
        defaultPort: 8085,
        schema: MovieViewRepository.schema,
        handlers: ViewpagePolicies.handlers
    ) { router, environment in
        router.addReadRoutes(MovieViewRepository.views, persistence: environment.persistence)
    }
}
