import CinemaKit
import ReservationService

await ServiceRuntime.main(ReservationService.definition)
