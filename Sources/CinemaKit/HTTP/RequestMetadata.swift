public import CinemaEvents
import CinemaHTTP
public import Hummingbird

/// The request's correlation id, as set by the gateway or the client, or a new one: it becomes the
/// correlation id of every event the request causes.
public func eventMetadata(for request: Request) -> EventMetadata {
    if let id = request.headers[.correlationID], !id.isEmpty, id.utf8.count <= 128 {
        return EventMetadata(correlationId: id)
    }
    return .newCorrelation()
}
