import Hummingbird
import NIOCore
import Synchronization

/// Learns that a client connection stopped sending (closed, or half-closed its side).
///
/// Hummingbird does not cancel a handler whose client went away: it notices only when it writes the answer. A request
/// waiting in an upstream's queue would keep its place until the queue timeout, on behalf of nobody. With this signal
/// the limiter gives the place up as soon as the client's input ends. A client that half-closes after sending its
/// request and still waits for the answer is treated the same way while it is queued; it gets a 503 instead of its
/// turn, which only happens while the upstream is overloaded anyway.
final class ConnectionInputSignal: Sendable {
    private struct State {
        var isClosed = false
        var actions: [UInt64: @Sendable () -> Void] = [:]
        var lastKey: UInt64 = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Runs `action` once when the input ends, at once when it has ended already. Returns the key to remove the action
    /// with, `nil` when it ran at once.
    @discardableResult
    func onInputClosed(_ action: @escaping @Sendable () -> Void) -> UInt64? {
        let key = self.state.withLock { state -> UInt64? in
            guard !state.isClosed else { return nil }
            state.lastKey += 1
            state.actions[state.lastKey] = action
            return state.lastKey
        }
        if key == nil { action() }
        return key
    }

    /// Forgets an action whose wait is over, so that a long-lived connection does not collect them.
    func removeAction(_ key: UInt64) {
        self.state.withLock { _ = $0.actions.removeValue(forKey: key) }
    }

    func close() {
        let actions = self.state.withLock { state -> [@Sendable () -> Void] in
            guard !state.isClosed else { return [] }
            state.isClosed = true
            defer { state.actions = [:] }
            return Array(state.actions.values)
        }
        // Outside the lock: the actions take the limiter's lock and resume waiters.
        for action in actions { action() }
    }
}

/// Sits at the front of every client connection's pipeline and fires its ``ConnectionInputSignal``.
final class ClientInputWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let signal = ConnectionInputSignal()

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent {
            self.signal.close()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.signal.close()
        context.fireChannelInactive()
    }
}

/// A request context that can tell the proxy when its client stops sending.
protocol ClientInputRequestContext: RemoteAddressRequestContext {
    /// Looked up only for a request that must wait for an upstream slot; `nil` when the connection has no watch.
    func clientInputSignal() async -> ConnectionInputSignal?
}

extension GatewayRequestContext: ClientInputRequestContext {
    func clientInputSignal() async -> ConnectionInputSignal? {
        let channel = self.channel
        // The pipeline may only be read on the channel's event loop; a lookup there is one hop, paid only when queueing.
        return try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ClientInputWatch.self).signal
        }.get()
    }
}
