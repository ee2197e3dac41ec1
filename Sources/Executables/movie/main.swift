import CinemaKit
import MovieService

await ServiceRuntime.main(MovieService.definition)
