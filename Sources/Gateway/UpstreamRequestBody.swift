import Hummingbird
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
    /// Only chunked bodies need counting; a declared Content-Length was checked up front.
    let limit: Int?

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let gate: RequestBodyGate
        let limit: Int?
        var received = 0

        mutating func next() async throws -> ByteBuffer? {
            guard self.gate.beginRead() else { return nil }
            defer { self.gate.endRead() }
            guard let buffer = try await self.base.next() else { return nil }
            self.received += buffer.readableBytes
            if let limit = self.limit, self.received > limit {
                throw HTTPError.bodyTooLarge(limit: limit)
            }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.base.makeAsyncIterator(), gate: self.gate, limit: self.limit)
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

    /// Returns false once the gate is closed; the caller must then not touch the body.
    func beginRead() -> Bool {
        self.state.withLock { state in
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
