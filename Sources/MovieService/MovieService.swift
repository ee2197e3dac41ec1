public import CinemaKit

/// The movie service: the catalogue and its reviews (port 8082, consumer group `movie`).
public enum MovieService {
    public static let definition = ServiceDefinition(
        name: "movie",
        defaultPort: 8082,
        schema: MovieRepository.schema + ReviewRepository.schema + MovieReservationRepository.schema,
        policies: MoviePolicies.handlers
    ) { environment in
        ServiceComponents(routes: [
            MovieController(persistence: environment.persistence).endpoints,
            ReviewController(persistence: environment.persistence).endpoints,
        ])
    }
}
