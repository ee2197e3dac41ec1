import CinemaHTTP
import Hummingbird
import NIOHTTP1
import Synchronization

/// The client's request body as handed to AsyncHTTPClient.
///
/// AsyncHTTPClient pulls the body from an unstructured task of its own and simply stops, without cancelling, once
/// the upstream has answered or failed. That task may then still be suspended in `next()` when Hummingbird, after
/// our response is written, reads the same connection to skip the rest of the body; two concurrent reads of the
/// channel trap in NIO. The gate lets the response wait until no read is in flight and turns away later ones.
struct UpstreamRequestBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let base: RequestBody
    let gate: RequestBodyGate
    /// Only chunked bodies need counting against the limit; a declared Content-Length was checked up front.
    let limit: Int?
    /// The declared Content-Length, so that a body cut short is reported as the client's fault.
    let declaredLength: Int64?

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let gate: RequestBodyGate
        let limit: Int?
        let declaredLength: Int64?
        var received = 0

        mutating func next() async throws -> ByteBuffer? {
            guard self.gate.beginRead() else { return nil }
            defer { self.gate.endRead() }
            guard let buffer = try await self.readFromClient() else {
                // Hummingbird ends the body quietly when the connection closes early; without this check the upload
                // would fail upstream as a length mismatch and look like the upstream's fault.
                if let declaredLength = self.declaredLength, self.received < declaredLength {
                    throw APIError.badRequest("the request body ended after \(self.received) of \(declaredLength) declared bytes")
                }
                self.gate.markBodyComplete()
                return nil
            }
            self.received += buffer.readableBytes
            if let limit = self.limit, self.received > limit {
                throw APIError.bodyTooLarge(limit: limit)
            }
            return buffer
        }

        /// Errors reading the client's body (a malformed chunk, a connection closed mid-body) are the client's, so
        /// they become 400s naming the problem instead of reaching AsyncHTTPClient as an anonymous upload failure.
        private mutating func readFromClient() async throws -> ByteBuffer? {
            do {
                return try await self.base.next()
            } catch let error as HTTPParserError {
                throw MalformedRequestHandler.apiError(for: error, maxHeaderSize: nil)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw APIError.badRequest("the request body could not be read: \(error)")
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.base.makeAsyncIterator(), gate: self.gate, limit: self.limit, declaredLength: self.declaredLength)
    }
}

final class RequestBodyGate: Sendable {
    private enum State {
        case idle
        case reading
        case closingWhileReading(CheckedContinuation<Void, Never>)
        case closed
    }

    private let state = Mutex(State.idle)
    private let readStarted = Atomic(false)
    private let bodyComplete = Atomic(false)

    /// Whether AsyncHTTPClient began the upload but the client has not sent all of its body yet: an upstream deadline
    /// passing then is the client's slowness (408), not the upstream's (504).
    var isWaitingForClientBody: Bool {
        self.readStarted.load(ordering: .acquiring) && !self.bodyComplete.load(ordering: .acquiring)
    }

    /// Whether AsyncHTTPClient began reading the body: from then on the request may have reached an upstream.
    var hasStartedReading: Bool {
        self.readStarted.load(ordering: .acquiring)
    }

    func markBodyComplete() {
        self.bodyComplete.store(true, ordering: .releasing)
    }

    /// Returns false once the gate is closed; the caller must then not touch the body.
    func beginRead() -> Bool {
        self.readStarted.store(true, ordering: .releasing)
        return self.state.withLock { state in
            guard case .idle = state else { return false }
            state = .reading
            return true
        }
    }

    func endRead() {
        let waiter: CheckedContinuation<Void, Never>? = self.state.withLock { state in
            switch state {
            case .reading:
                state = .idle
                return nil
            case .closingWhileReading(let waiter):
                state = .closed
                return waiter
            case .idle, .closed:
                return nil
            }
        }
        waiter?.resume()
    }

    /// Returns once no read is in flight, after which none will start. A read in flight ends when the client
    /// sends more or goes away, exactly what Hummingbird's own skipping of the body would wait for.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let mustWait = self.state.withLock { state in
                switch state {
                case .reading:
                    state = .closingWhileReading(continuation)
                    return true
                case .idle, .closed, .closingWhileReading:
                    // Only one close per request is made; a second one has nothing left to protect.
                    if case .idle = state { state = .closed }
                    return false
                }
            }
            if !mustWait { continuation.resume() }
        }
    }
}

extension ResponseBody {
    /// This body, followed by closing `gate` once it is written or has failed, while Hummingbird still waits
    /// for the response and before it goes on reading the connection.
    func closing(_ gate: RequestBodyGate?) -> ResponseBody {
        guard let gate else { return self }
        let body = self
        return ResponseBody(contentLength: self.contentLength) { writer in
            do {
                try await body.write(writer)
            } catch {
                await gate.close()
                throw error
            }
            await gate.close()
        }
    }
}
