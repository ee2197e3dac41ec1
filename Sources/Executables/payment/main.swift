import CinemaKit
import PaymentService

await ServiceRuntime.main(PaymentService.definition)
