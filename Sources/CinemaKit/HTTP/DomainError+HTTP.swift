public import CinemaHTTP
import HTTPTypes

/// The HTTP answer to each domain error; applied by `JSONErrorMiddleware`.
extension DomainError: APIErrorConvertible {
    public var apiError: APIError {
        switch self {
        case .notFound(let message):
            APIError(.notFound, message)
        case .invalid(let message, let field):
            APIError(.badRequest, message, field: field)
        case .unprocessable(let message, let field):
            APIError(.unprocessableContent, message, field: field)
        case .conflict(let message, let field):
            APIError(.conflict, message, field: field)
        case .unavailable(let message, let retryAfterSeconds):
            APIError(.serviceUnavailable, message, headers: [.retryAfter: String(retryAfterSeconds)])
        }
    }
}
