/// The tables every service has beside its own: the outbox and the inbox (with parked events).
public enum MessagingSchema {
    public static let steps: [SchemaStep] = OutboxRepository.schema + InboxRepository.schema
}
