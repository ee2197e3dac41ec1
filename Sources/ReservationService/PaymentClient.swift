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
    /// Refunds whatever payment exists for `rsvId`, and makes sure none can be taken for it later.
    func void(rsvId: Int64, movieId: Int64, correlationId: String) async throws(PaymentCallError)
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

    public init(baseURL: String, httpClient: HTTPClient = PeerHTTPClient.shared, timeout: TimeAmount = .seconds(3)) {
        self.baseURL = PeerHTTPClient.baseURL(baseURL)
        self.httpClient = httpClient
        self.timeout = timeout
    }

    /// Only a 4xx is a refusal that charged nothing. A 5xx, or a 2xx without a payment id, may
    /// come from a payment service that charged and then failed: the outcome is unknown, and the
    /// caller must void the reservation's payment (refund whatever was taken).
    public func pay(rsvId: Int64, movieId: Int64, correlationId: String) async throws(PaymentCallError) -> Int64 {
        let body = JSONValue.object([("rsvId", .integer(rsvId)), ("movieId", .integer(movieId)), ("status", .string("paid"))])
        let (status, json) = try await call(.POST, "/payments", body: body, correlationId: correlationId)
        if (400..<500).contains(status) {
            throw .rejected(status: status, message: Self.message(from: json) ?? "refused")
        }
        guard (200..<300).contains(status), case .integer(let payId)? = json?["payId"] else {
            throw .unavailable("payment answered \(status) without a payment id")
        }
        return payId
    }

    /// One call that payment applies atomically: refunds the reservation's payment if there is one,
    /// and otherwise makes sure none can be taken later (a payment call still in flight is refused
    /// when it arrives), so a refund can never miss a payment committed just after it.
    public func void(rsvId: Int64, movieId: Int64, correlationId: String) async throws(PaymentCallError) {
        let body = JSONValue.object([("rsvId", .integer(rsvId)), ("movieId", .integer(movieId))])
        let (status, json) = try await call(.POST, "/payments/voids", body: body, correlationId: correlationId)
        guard status == 200 else {
            throw .unavailable("void answered \(status): \(Self.message(from: json) ?? "")")
        }
    }

    private func call(
        _ method: HTTPMethod, _ path: String, body: JSONValue?, correlationId: String
    ) async throws(PaymentCallError) -> (Int, JSONValue?) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "X-Correlation-Id", value: correlationId)
        // No `traceparent` here: AsyncHTTPClient injects the current span's (the request's), through the tracer the
        // process bootstrapped, so payment continues the reservation's trace.
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
