import CinemaKit
import Hummingbird

/// `/movieviews`, read-only: the view is written by the policies only.
struct MovieViewController: Controller {
    let persistence: Persistence

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.addResourceRoutes(MovieViewRepository.self, persistence: persistence)
    }
}
