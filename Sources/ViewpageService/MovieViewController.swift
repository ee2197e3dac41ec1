public import CinemaKit
public import Hummingbird

/// `/movieviews`, read-only: the view is written by the policies only.
public struct MovieViewController: Sendable {
    let persistence: Persistence

    public init(persistence: Persistence) {
        self.persistence = persistence
    }

    public var endpoints: RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.addReadRoutes(MovieViewRepository.views, persistence: persistence)
        return routes
    }
}
