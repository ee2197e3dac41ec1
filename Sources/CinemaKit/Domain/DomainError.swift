/// What the domain refuses, in its own terms. Entities, sagas and repositories throw these; they
/// know nothing of HTTP. `DomainError+HTTP.swift` is the one place that says which status each is.
public enum DomainError: Error, Equatable, CustomStringConvertible {
    /// The item the request names does not exist.
    case notFound(String)
    /// A value the domain does not accept (a status it cannot be set to).
    case invalid(String, field: String? = nil)
    /// Well-formed, but it cannot be carried out as asked: it refers to a movie that does not
    /// exist, or a collaborator (payment) refused it.
    case unprocessable(String, field: String? = nil)
    /// The item's state forbids the change (cancel a cancelled reservation).
    case conflict(String, field: String? = nil)
    /// A collaborator the change needs is down or refused; nothing was changed. Try again later.
    case unavailable(String, retryAfterSeconds: Int)

    public var description: String {
        switch self {
        case .notFound(let message), .invalid(let message, _), .unprocessable(let message, _),
            .conflict(let message, _), .unavailable(let message, _):
            message
        }
    }
}
