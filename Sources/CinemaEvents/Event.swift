public import CinemaJSON
import Foundation

/// Names one event of the original system and the record it carries.
public protocol EventKind: Sendable {
    associatedtype Body: EventBody
    static var name: String { get }
}

/// One event of a given kind: the envelope (`eventType`, `timestamp`, `me`) around its record.
///
/// Each event of the original is its own type (`MovieRegistered`, `PaymentApproved`, …), an
/// alias of this generic, so the envelope is written and read in one place only.
@dynamicMemberLookup
public struct Event<Kind: EventKind>: Sendable, Equatable {
    public var timestamp: String
    public var body: Kind.Body

    public init(_ body: Kind.Body, timestamp: String = EventTimestamp.now()) {
        self.body = body
        self.timestamp = timestamp
    }

    public static var eventType: String { Kind.name }

    public subscript<Value>(dynamicMember keyPath: KeyPath<Kind.Body, Value>) -> Value {
        body[keyPath: keyPath]
    }

    /// The JSON value on the topic: `eventType`, `timestamp`, the record's fields in declaration
    /// order, then `"me":true`, an artefact of the original's `isMe()` getter its readers still see.
    public func encodedJSON() throws -> [UInt8] {
        let fields = try JSONValueEncoder().encodeObject(body)
        let envelope: [(String, JSONValue)] = [("eventType", .string(Kind.name)), ("timestamp", .string(timestamp))]
        return JSONValue.object(envelope + fields + [("me", .bool(true))]).serialized()
    }

    /// Reads an event of this kind; the caller has already matched `eventType`.
    public static func decode(fromJSON bytes: [UInt8]) throws -> Self {
        let decoder = JSONDecoder()
        let data = Data(bytes)
        let head = try decoder.decode(EventEnvelopeHead.self, from: data)
        guard head.eventType == Kind.name else {
            throw EventDecodingError.wrongType(expected: Kind.name, found: head.eventType)
        }
        let body = try decoder.decode(Kind.Body.self, from: data)
        return Self(body, timestamp: head.timestamp ?? "")
    }
}

public enum EventDecodingError: Error, Equatable, CustomStringConvertible {
    case wrongType(expected: String, found: String)

    public var description: String {
        switch self {
        case .wrongType(let expected, let found): "expected eventType \(expected), found \(found)"
        }
    }
}

/// The part of every event that says what it is; read first to pick the record's type.
public struct EventEnvelopeHead: Decodable, Sendable {
    public var eventType: String
    public var timestamp: String?

    public static func decode(fromJSON bytes: [UInt8]) throws -> EventEnvelopeHead {
        try JSONDecoder().decode(EventEnvelopeHead.self, from: Data(bytes))
    }
}

/// The fourteen events of the original system.
public enum EventKinds {
    public enum MovieRegistered: EventKind {
        public typealias Body = Movie
        public static let name = "MovieRegistered"
    }
    public enum MovieModified: EventKind {
        public typealias Body = Movie
        public static let name = "MovieModified"
    }
    public enum MovieReserved: EventKind {
        public typealias Body = Movie
        public static let name = "MovieReserved"
    }
    public enum MovieCancelled: EventKind {
        public typealias Body = Movie
        public static let name = "MovieCancelled"
    }
    public enum MovieDeleted: EventKind {
        public typealias Body = Movie
        public static let name = "MovieDeleted"
    }
    public enum ReviewCreated: EventKind {
        public typealias Body = Review
        public static let name = "ReviewCreated"
    }
    public enum ReviewModified: EventKind {
        public typealias Body = Review
        public static let name = "ReviewModified"
    }
    public enum ReviewDeleted: EventKind {
        public typealias Body = Review
        public static let name = "ReviewDeleted"
    }
    public enum ReservationCreated: EventKind {
        public typealias Body = Reservation
        public static let name = "ReservationCreated"
    }
    public enum ReservationConfirmed: EventKind {
        public typealias Body = Reservation
        public static let name = "ReservationConfirmed"
    }
    public enum ReservationCancelRequested: EventKind {
        public typealias Body = Reservation
        public static let name = "ReservationCancelRequested"
    }
    public enum ReservationCancelled: EventKind {
        public typealias Body = Reservation
        public static let name = "ReservationCancelled"
    }
    /// The movie refused a confirmed reservation (sold out, deleted): the seats saga's turn.
    public enum MovieReservationRejected: EventKind {
        public typealias Body = ReservationRejection
        public static let name = "MovieReservationRejected"
    }
    /// The reservation took the movie's refusal; payment refunds it.
    public enum ReservationRejected: EventKind {
        public typealias Body = Reservation
        public static let name = "ReservationRejected"
    }
    public enum PaymentApproved: EventKind {
        public typealias Body = Payment
        public static let name = "PaymentApproved"
    }
    public enum PaymentCancelled: EventKind {
        public typealias Body = Payment
        public static let name = "PaymentCancelled"
    }

    public static let allNames: [String] = [
        MovieRegistered.name, MovieModified.name, MovieReserved.name, MovieCancelled.name, MovieDeleted.name,
        ReviewCreated.name, ReviewModified.name, ReviewDeleted.name,
        ReservationCreated.name, ReservationConfirmed.name, ReservationCancelRequested.name, ReservationCancelled.name,
        PaymentApproved.name, PaymentCancelled.name,
        // Beyond the original: the seats saga.
        MovieReservationRejected.name, ReservationRejected.name,
    ]
}

public typealias MovieRegistered = Event<EventKinds.MovieRegistered>
public typealias MovieModified = Event<EventKinds.MovieModified>
public typealias MovieReserved = Event<EventKinds.MovieReserved>
public typealias MovieCancelled = Event<EventKinds.MovieCancelled>
public typealias MovieDeleted = Event<EventKinds.MovieDeleted>
public typealias ReviewCreated = Event<EventKinds.ReviewCreated>
public typealias ReviewModified = Event<EventKinds.ReviewModified>
public typealias ReviewDeleted = Event<EventKinds.ReviewDeleted>
public typealias ReservationCreated = Event<EventKinds.ReservationCreated>
public typealias ReservationConfirmed = Event<EventKinds.ReservationConfirmed>
public typealias ReservationCancelRequested = Event<EventKinds.ReservationCancelRequested>
public typealias ReservationCancelled = Event<EventKinds.ReservationCancelled>
public typealias MovieReservationRejected = Event<EventKinds.MovieReservationRejected>
public typealias ReservationRejected = Event<EventKinds.ReservationRejected>
public typealias PaymentApproved = Event<EventKinds.PaymentApproved>
public typealias PaymentCancelled = Event<EventKinds.PaymentCancelled>

/// Any event, type-erased, as the outbox stores it.
public protocol OutgoingEvent: Sendable {
    var eventType: String { get }
    var movieId: Int64 { get }
    func encodedJSON() throws -> [UInt8]
}

extension Event: OutgoingEvent {
    public var eventType: String { Kind.name }
    public var movieId: Int64 { body.movieId }
}
