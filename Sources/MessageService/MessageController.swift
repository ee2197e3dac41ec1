public import CinemaKit
public import Hummingbird

/// `/messages`, read-only: messages are written by the policies only.
public struct MessageController: Sendable {
    let persistence: Persistence

    public init(persistence: Persistence) {
        self.persistence = persistence
    }

    public var endpoints: RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.addReadRoutes(MessageRepository.messages, persistence: persistence)
        return routes
    }
}
