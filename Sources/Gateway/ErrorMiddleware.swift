import CinemaKit
import Hummingbird

/// The gateway's own errors, in the one error shape of the whole system.
enum ErrorBody {
    static func response(status: HTTPResponse.Status, message: String, path: String) -> Response {
        APIError(status, message).response(path: path)
    }
}
