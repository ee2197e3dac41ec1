public import AsyncHTTPClient
import CinemaJSON
import Foundation
public import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// What the reservation service needs from payment, synchronously.
public protocol PaymentClient: Sendable {
    /// Takes the payment for a reservation to be; safe to repeat for the same `rsvId`.
    func pay(rsvId: Int64, movieId: Int64, correlationId: String) async throws(PaymentCallError) -> Int64
    /// Refunds whatever payment exists for `rsvId`; succeeds when there is none.
    func refund(rsvId: Int64, correlationId: String) async throws(PaymentCallError)
}

public enum PaymentCallError: Error, Equatable, CustomStringConvertible {
    /// Payment said no; nothing was charged.
    case rejected(status: Int, message: String)
    /// Payment could not be reached at all: no request left this service, nothing was charged.
    case unreachable(String)
    /// Payment was asked but did not answer in time: whether it charged is unknown.
    case unavailable(String)

    public var description: String {
        switch self {
        case .rejected(let status, let message): "payment rejected (\(status)): \(message)"
        case .unreachable(let reason): "payment unreachable: \(reason)"
        case .unavailable(let reason): "payment unavailable: \(reason)"
        }
    }
}

/// Calls the payment service's REST API.
public struct HTTPPaymentClient: PaymentClient {
    let baseURL: String
    let httpClient: HTTPClient
    let timeout: TimeAmount

    /// Fails a refused connection at once instead of retrying it until the deadline, so a
    /// payment outage is answered in milliseconds, not after the timeout.
    public static let defaultHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(1)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(baseURL: String, httpClient: HTTPClient = HTTPPaymentClient.defaultHTTPClient, timeout: TimeAmount = .seconds(3)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.httpClient = httpClient
        self.timeout = timeout
    }

    public func pay(rsvId: Int64, movieId: Int64, correlationId: String) async throws(PaymentCallError) -> Int64 {
        let body = JSONValue.object([("rsvId", .integer(rsvId)), ("movieId", .integer(movieId)), ("status", .string("paid"))])
        let (status, json) = try await call(.POST, "/payments", body: body, correlationId: correlationId)
        guard (200..<300).contains(status), case .integer(let payId)? = json?["payId"] else {
            throw .rejected(status: status, message: Self.message(from: json) ?? "unexpected answer")
        }
        return payId
    }

    public func refund(rsvId: Int64, correlationId: String) async throws(PaymentCallError) {
        let (status, json) = try await call(.GET, "/payments/search/findByRsvId?rsvId=\(rsvId)", body: nil, correlationId: correlationId)
        if status == 404 { return }
        guard status == 200, case .integer(let payId)? = json?["payId"] else {
            throw .unavailable("payment lookup answered \(status)")
        }
        let (cancelStatus, cancelJSON) = try await call(
            .PATCH, "/payments/\(payId)", body: .object([("status", .string("cancelled"))]), correlationId: correlationId
        )
        guard cancelStatus == 200 else {
            throw .unavailable("refund answered \(cancelStatus): \(Self.message(from: cancelJSON) ?? "")")
        }
    }

    private func call(
        _ method: HTTPMethod, _ path: String, body: JSONValue?, correlationId: String
    ) async throws(PaymentCallError) -> (Int, JSONValue?) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "X-Correlation-Id", value: correlationId)
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.serialized()))
        }
        do {
            let response = try await httpClient.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 1024 * 1024)
            let json = try? JSONValue.parse(Array(bytes.readableBytesView))
            return (Int(response.status.code), json)
        } catch {
            throw Self.neverConnected(error) ? .unreachable("\(error)") : .unavailable("\(error)")
        }
    }

    /// Errors that mean the connection was never established, so the request was never sent.
    static func neverConnected(_ error: any Error) -> Bool {
        if let error = error as? IOError, [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode) { return true }
        if error is NIOConnectionError { return true }
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        if let error = error as? ChannelError, case .connectTimeout = error { return true }
        return false
    }

    private static func message(from json: JSONValue?) -> String? {
        if case .string(let message)? = json?["message"] { return message }
        return nil
    }
}
