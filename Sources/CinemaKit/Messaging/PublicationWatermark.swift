import Synchronization

/// The highest outbox position up to which everything is published, with waiters for positions.
final class PublicationWatermark: Sendable {
    private struct State {
        var publishedThrough: Int64 = 0
        var waiters: [UInt64: (seq: Int64, continuation: CheckedContinuation<Bool, Never>)] = [:]
        var nextID: UInt64 = 0
        /// Waiters whose time ran out before they had registered.
        var expired: Set<UInt64> = []
    }

    private let state = Mutex(State())

    func advance(to seq: Int64) {
        let released = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            guard seq > state.publishedThrough else { return [] }
            state.publishedThrough = seq
            let ready = state.waiters.filter { $0.value.seq <= seq }
            for id in ready.keys { state.waiters[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in released { continuation.resume(returning: true) }
    }

    func wait(for seq: Int64, timeout: Duration) async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let timer = Task {
            do {
                try await Task.sleep(for: timeout)
                self.resume(id, with: false)
            } catch {}
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let alreadyPublished = state.withLock { state -> Bool? in
                if state.publishedThrough >= seq { return true }
                if state.expired.remove(id) != nil { return false }
                state.waiters[id] = (seq, continuation)
                return nil
            }
            if let alreadyPublished { continuation.resume(returning: alreadyPublished) }
        }
    }

    private func resume(_ id: UInt64, with value: Bool) {
        let waiter = state.withLock { state in
            let waiter = state.waiters.removeValue(forKey: id)
            if waiter == nil { state.expired.insert(id) }
            return waiter
        }
        waiter?.continuation.resume(returning: value)
    }
}
