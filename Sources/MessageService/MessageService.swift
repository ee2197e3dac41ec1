public import CinemaKit

/// The message service: the customers' notifications (port 8084, consumer group `message`).
public enum MessageService {
    public static let definition = ServiceDefinition(
        name: "message",
        defaultPort: 8084,
        schema: MessageRepository.schema,
        policies: MessagePolicies.handlers
    ) { environment in
        ServiceComponents(routes: [MessageController(persistence: environment.persistence).endpoints])
    }
}
