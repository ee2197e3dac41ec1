import Foundation
public import HTTPTypes
public import Hummingbird
import ServiceLifecycle
import Synchronization

/// One Server-Sent Event: its id (what a reconnecting browser sends back as `Last-Event-ID`), its name and its data.
public struct ServerSentEvent: Sendable, Equatable {
    public var id: String
    public var name: String
    public var data: String

    public init(id: String, name: String, data: String) {
        self.id = id
        self.name = name
        self.data = data
    }

    /// The wire form: `id:`, `event:`, one `data:` line per line of `data`, and the blank line that ends the event.
    /// Carriage returns are line ends in SSE, so they are split on too (`\r\n` is one Character): data can never forge a
    /// field.
    public var encoded: String {
        var text = "id: \(id)\nevent: \(name)\n"
        for line in data.split(omittingEmptySubsequences: false, whereSeparator: { $0.isNewline }) {
            text += "data: \(line)\n"
        }
        return text + "\n"
    }
}

/// What a subscriber receives after its replay: events, and comments that keep an idle connection (and every proxy on
/// the way) from timing it out.
public enum EventStreamFrame: Sendable, Equatable {
    case event(ServerSentEvent)
    case heartbeat

    public var encoded: String {
        switch self {
        case .event(let event): event.encoded
        case .heartbeat: ": heartbeat\n\n"
        }
    }
}

/// A fan-out of Server-Sent Events to any number of browsers, with the latest events kept for those that reconnect.
///
/// Ids are `<incarnation>-<sequence>`: the incarnation is random per hub, so a browser coming back after a restart, or
/// to another replica, presents an id this hub never issued and gets a snapshot instead of a wrong replay.
///
/// Bounded everywhere: `retained` events for replays, `bufferPerClient` undelivered frames per browser (one that falls
/// behind is disconnected, and its reconnection replays or snapshots what it missed), `maxClients` streams at once.
public final class EventStreamHub: Sendable {
    public struct Limits: Sendable {
        public var retained: Int
        public var bufferPerClient: Int
        public var maxClients: Int

        public init(retained: Int = 256, bufferPerClient: Int = 64, maxClients: Int = 256) {
            self.retained = max(retained, 1)
            self.bufferPerClient = max(bufferPerClient, 1)
            self.maxClients = max(maxClients, 1)
        }
    }

    /// What a new subscriber must be sent before its live frames.
    public enum Replay: Sendable, Equatable {
        /// The events it missed (none when it is up to date).
        case events([ServerSentEvent])
        /// Its id is unknown or older than what is kept: it needs the whole state, as of `id` (the live frames follow
        /// that id, so the snapshot is sent with it).
        case snapshot(id: String)
    }

    public struct Subscription: Sendable {
        public let replay: Replay
        public let frames: AsyncStream<EventStreamFrame>
        let continuation: AsyncStream<EventStreamFrame>.Continuation

        /// Ends this stream (the subscriber leaves the hub).
        public func close() { continuation.finish() }
    }

    private struct Subscriber {
        let continuation: AsyncStream<EventStreamFrame>.Continuation
    }

    private struct State {
        var sequence: UInt64 = 0
        var retained: [(sequence: UInt64, event: ServerSentEvent)] = []
        var subscribers: [UInt64: Subscriber] = [:]
        var nextSubscriber: UInt64 = 0
        var finished = false
    }

    public let limits: Limits
    public let incarnation: String
    private let state = Mutex(State())

    public init(limits: Limits = Limits(), incarnation: String = String(UInt32.random(in: .min ... .max), radix: 36)) {
        self.limits = limits
        self.incarnation = incarnation
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Sends an event to every subscriber and keeps it for replays; returns it with its id.
    @discardableResult
    public func publish(name: String, data: String) -> ServerSentEvent {
        let (event, overflowed) = state.withLock { state -> (ServerSentEvent, [AsyncStream<EventStreamFrame>.Continuation]) in
            state.sequence += 1
            let event = ServerSentEvent(id: "\(incarnation)-\(state.sequence)", name: name, data: data)
            state.retained.append((state.sequence, event))
            if state.retained.count > limits.retained { state.retained.removeFirst(state.retained.count - limits.retained) }
            // Yielding only enqueues (no I/O, never blocks); doing it under the lock keeps every subscriber's order the
            // publication order and makes subscribe's replay and live frames meet without gap or overlap.
            return (event, Self.yield(.event(event), to: &state))
        }
        for continuation in overflowed { continuation.finish() }
        return event
    }

    /// A comment to every subscriber; a background task calls it through idle periods.
    public func heartbeat() {
        let overflowed = state.withLock { Self.yield(.heartbeat, to: &$0) }
        for continuation in overflowed { continuation.finish() }
    }

    /// Subscribers whose buffer is full are dropped from the state; their streams are finished by the caller, outside
    /// the lock (finishing runs `onTermination`, which takes the lock).
    private static func yield(
        _ frame: EventStreamFrame, to state: inout State
    ) -> [AsyncStream<EventStreamFrame>.Continuation] {
        var overflowed: [AsyncStream<EventStreamFrame>.Continuation] = []
        for (key, subscriber) in state.subscribers {
            if case .dropped = subscriber.continuation.yield(frame) {
                state.subscribers[key] = nil
                overflowed.append(subscriber.continuation)
            }
        }
        return overflowed
    }

    /// A new stream, replaying what `lastEventID` missed; `nil` when `maxClients` streams are open or the hub is
    /// finished (shutting down).
    public func subscribe(lastEventID: String?) -> Subscription? {
        let (stream, continuation) = AsyncStream<EventStreamFrame>.makeStream(bufferingPolicy: .bufferingOldest(limits.bufferPerClient))
        let result: (Replay, UInt64)? = state.withLock { state in
            guard !state.finished, state.subscribers.count < limits.maxClients else { return nil }
            let key = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[key] = Subscriber(continuation: continuation)
            return (Self.replay(after: lastEventID, in: state, incarnation: incarnation), key)
        }
        guard let (replay, key) = result else {
            continuation.finish()
            return nil
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.subscribers.removeValue(forKey: key) }
        }
        return Subscription(replay: replay, frames: stream, continuation: continuation)
    }

    private static func replay(after lastEventID: String?, in state: State, incarnation: String) -> Replay {
        let current = Replay.snapshot(id: "\(incarnation)-\(state.sequence)")
        guard let lastEventID, lastEventID.hasPrefix("\(incarnation)-"),
            let seen = UInt64(lastEventID.dropFirst(incarnation.count + 1)), seen <= state.sequence
        else { return current }
        if seen == state.sequence { return .events([]) }
        // Everything after `seen` must still be kept, or the browser would miss some: then a snapshot.
        guard let oldest = state.retained.first?.sequence, oldest <= seen + 1 else { return current }
        return .events(state.retained.filter { $0.sequence > seen }.map(\.event))
    }

    /// Ends every stream and refuses new ones: on shutdown, so that no open browser holds the server's graceful stop.
    public func finishAll() {
        let continuations = state.withLock { state in
            state.finished = true
            defer { state.subscribers = [:] }
            return state.subscribers.values.map(\.continuation)
        }
        for continuation in continuations { continuation.finish() }
    }
}

extension EventStreamHub.Subscription {
    /// The `text/event-stream` answer: a reconnection delay, the replay (or the snapshot `snapshot` builds, sent with
    /// the id it is as of), then live frames until the hub finishes the stream, the client leaves, or the server shuts
    /// down gracefully.
    public func response(snapshot: @escaping @Sendable () async throws -> String) -> Response {
        let replay = self.replay
        let frames = self.frames
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache, no-store"
        // nginx and similar proxies buffer responses unless told not to.
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                var head = "retry: 2000\n\n"
                switch replay {
                case .events(let events):
                    head += events.map(\.encoded).joined()
                case .snapshot(let id):
                    head += ServerSentEvent(id: id, name: "snapshot", data: try await snapshot()).encoded
                }
                try await writer.write(ByteBuffer(string: head))
                try await withGracefulShutdownHandler {
                    for await frame in frames {
                        try await writer.write(ByteBuffer(string: frame.encoded))
                    }
                } onGracefulShutdown: {
                    // An open stream would hold the server's graceful stop until the deadline.
                    self.close()
                }
                try await writer.finish(nil)
            })
    }
}
