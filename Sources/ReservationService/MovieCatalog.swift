public import AsyncHTTPClient
import Logging
public import NIOCore
import NIOHTTP1

/// Whether a movie exists, asked of the movie service when reservation's own projection (fed by
/// MovieRegistered and MovieDeleted) has not seen it yet: a movie is reservable as soon as its
/// registration was answered, not only once its event arrived here.
public protocol MovieCatalog: Sendable {
    func lookUp(movieId: Int64, correlationId: String) async -> MovieLookup
}

public enum MovieLookup: Sendable, Equatable {
    case registered
    case unknown
    /// The movie service did not answer usefully: whether the movie exists cannot be said.
    case unavailable(String)
}

/// Asks `GET /movies/{id}` of the movie service.
public struct HTTPMovieCatalog: MovieCatalog {
    let baseURL: String
    let httpClient: HTTPClient
    let timeout: TimeAmount

    public init(baseURL: String, httpClient: HTTPClient = PeerHTTPClient.shared, timeout: TimeAmount = .seconds(1)) {
        self.baseURL = PeerHTTPClient.baseURL(baseURL)
        self.httpClient = httpClient
        self.timeout = timeout
    }

    public func lookUp(movieId: Int64, correlationId: String) async -> MovieLookup {
        var request = HTTPClientRequest(url: "\(baseURL)/movies/\(movieId)")
        request.headers.add(name: "X-Correlation-Id", value: correlationId)
        do {
            let response = try await httpClient.execute(request, timeout: timeout)
            // Only the status matters; the body is drained so the connection can be reused.
            _ = try await response.body.collect(upTo: 1024 * 1024)
            switch response.status.code {
            case 200: return .registered
            case 404: return .unknown
            default: return .unavailable("movie service answered \(response.status.code)")
            }
        } catch {
            return .unavailable("\(error)")
        }
    }
}
