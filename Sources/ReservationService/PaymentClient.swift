public import AsyncHTTPClient
import CinemaKit
import Foundation
public import NIOCore
import NIOHTTP1

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
    /// Payment could not be asked or did not answer in time: whether it charged is unknown.
    case unavailable(String)

    public var description: String {
        switch self {
        case .rejected(let status, let message): "payment rejected (\(status)): \(message)"
        case .unavailable(let reason): "payment unavailable: \(reason)"
        }
    }
}

/// Calls the payment service's REST API.
public struct HTTPPaymentClient: PaymentClient {
    let baseURL: String
    let httpClient: HTTPClient
    let timeout: TimeAmount

    public init(baseURL: String, httpClient: HTTPClient = .shared, timeout: TimeAmount = .seconds(5)) {
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

    private func call(_ method: HTTPMethod, _ path: String, body: JSONValue?, correlationId: String) async throws(PaymentCallError) -> (Int, JSONValue?) {
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
            throw .unavailable("\(error)")
        }
    }

    private static func message(from json: JSONValue?) -> String? {
        if case .string(let message)? = json?["message"] { return message }
        return nil
    }
}
