import CinemaKit
import Hummingbird

/// `/messages`, read-only: messages are written by the policies only.
struct MessageController: Controller {
    let persistence: Persistence

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.addResourceRoutes(MessageRepository.self, persistence: persistence)
    }
}
