public import CinemaEvents
public import Logging
public import SQLKit

/// What a policy handler gets: the transaction its effect goes into, a recorder for the events
/// the effect causes (same transaction), and the incoming message's identity.
public struct HandlerContext: Sendable {
    public let database: any SQLDatabase
    public let events: EventRecorder
    public let messageId: String
    public let logger: Logger
}

/// Thrown by a handler whose event arrived before what it depends on (e.g. a payment approval
/// for a reservation whose creation is still committing). The event is retried with back-off,
/// and parked if it never becomes applicable.
public struct RetryLater: Error, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "retry later: \(reason)" }
}

/// A service's policy handlers, by event type. Events of other types are not this service's
/// concern and are skipped without being decoded.
public struct EventHandlers: Sendable {
    typealias Erased = @Sendable (_ json: [UInt8], _ context: HandlerContext) async throws -> Void

    private(set) var handlers: [String: Erased] = [:]

    public init() {}

    /// These handlers and `handler` for events of `type`; a service's policies read as a table:
    /// `EventHandlers().on(ReviewCreated.self) { … }.on(ReviewDeleted.self) { … }`.
    public func on<Kind: EventKind>(
        _ type: Event<Kind>.Type,
        _ handler: @escaping @Sendable (Event<Kind>, HandlerContext) async throws -> Void
    ) -> EventHandlers {
        var extended = self
        extended.handlers[Kind.name] = { json, context in
            let event: Event<Kind>
            do {
                event = try Event<Kind>.decode(fromJSON: json)
            } catch {
                throw MalformedEvent(reason: "\(Kind.name) does not decode: \(error)")
            }
            try await handler(event, context)
        }
        return extended
    }

    public var eventTypes: Set<String> { Set(handlers.keys) }

    func handler(for eventType: String) -> Erased? {
        handlers[eventType]
    }
}

/// An event that can never be applied as it is: it is parked at once instead of retried.
public struct MalformedEvent: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
