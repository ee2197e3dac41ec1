public import AsyncHTTPClient
import NIOCore

/// The HTTP client reservation uses for its synchronous calls to other services.
public enum PeerHTTPClient {
    /// Fails a refused connection at once instead of retrying it until the deadline, so an
    /// outage of a peer is answered in milliseconds, not after the timeout. Made on first use, after the process has
    /// bootstrapped tracing: the configuration takes the tracer, and each call then sends the current span as
    /// `traceparent`.
    public static let shared: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(1)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// A peer's base URL as the environment gives it, without the trailing slash paths are added to.
    static func baseURL(_ configured: String) -> String {
        configured.hasSuffix("/") ? String(configured.dropLast()) : configured
    }
}
