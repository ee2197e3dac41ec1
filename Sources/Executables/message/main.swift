import CinemaKit
import MessageService

await ServiceRuntime.main(MessageService.definition)
