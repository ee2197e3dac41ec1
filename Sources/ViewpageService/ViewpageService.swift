public import CinemaKit

/// The viewpage service: the one-screen read model (port 8085, consumer group `viewpage`).
public enum ViewpageService {
    public static let definition = ServiceDefinition(
        name: "viewpage",
        defaultPort: 8085,
        schema: MovieViewRepository.schema,
        policies: ViewpagePolicies.handlers
    ) { environment in
        ServiceComponents(routes: [MovieViewController(persistence: environment.persistence).endpoints])
    }
}
