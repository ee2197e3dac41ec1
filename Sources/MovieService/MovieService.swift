public import CinemaKit

public enum MovieService {
    public static let definition = ServiceDefinition(
        name: "movie",
        defaultPort: 8082,
        schema: MovieRepository.schema,
        handlers: MoviePolicies.handlers
    ) { router, environment in
        MovieController(persistence: environment.persistence).addRoutes(to: router)
    }
}
