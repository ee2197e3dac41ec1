import CinemaKit
import ViewpageService

await ServiceRuntime.main(ViewpageService.definition)
