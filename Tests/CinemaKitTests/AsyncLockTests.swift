import CinemaPolling
import Synchronization
import Testing

@testable import CinemaKit

/// The store's FIFO lock: exclusion, order, and cancellation at every moment a waiter can be in.
struct AsyncLockTests {
    /// Holds `lock` until `release` is resumed; returns once the lock is held.
    private func hold(_ lock: AsyncLock) async -> (holder: Task<Void, any Error>, release: AsyncStream<Void>.Continuation) {
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        let (held, heldSignal) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await lock.withLock {
                heldSignal.yield()
                for await _ in released { break }
            }
        }
        for await _ in held { break }
        return (holder, release)
    }

    @Test func waitersRunOneAtATimeInArrivalOrder() async throws {
        let lock = AsyncLock()
        let (holder, release) = await hold(lock)
        let order = Shared<[Int]>([])
        let inside = Shared(0)
        var waiters: [Task<Void, any Error>] = []
        for index in 0..<20 {
            waiters.append(
                Task {
                    try await lock.withLock {
                        let concurrent = inside.withLock { value in
                            value += 1
                            return value
                        }
                        #expect(concurrent == 1)
                        await Task.yield()
                        order.withLock { $0.append(index) }
                        inside.withLock { $0 -= 1 }
                    }
                })
            // Each waiter queues before the next one starts.
            try await waitUntilQueued(lock, count: index + 1)
        }
        release.yield()
        try await holder.value
        for waiter in waiters { try await waiter.value }
        #expect(order.withLock { $0 } == Array(0..<20))
    }

    /// A waiter cancelled while queued leaves at once; the holder and the queue go on.
    @Test func aQueuedWaiterCancelledLeavesAtOnce() async throws {
        let lock = AsyncLock()
        let (holder, release) = await hold(lock)
        let waiter = Task { try await lock.withLock { "ran" } }
        try await waitUntilQueued(lock, count: 1)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        release.yield()
        try await holder.value
        #expect(try await lock.withLock { "free" } == "free")
    }

    /// A task cancelled before it asks for a held lock: its cancellation handler runs before it
    /// has queued. It must fail at once, not wait for the holder (and then run its body).
    @Test func aWaiterCancelledBeforeItQueuesDoesNotWait() async throws {
        let lock = AsyncLock()
        let (holder, release) = await hold(lock)
        let ran = Shared(false)
        let finished = Shared(false)
        let waiter = Task {
            defer { finished.withLock { $0 = true } }
            while !Task.isCancelled { await Task.yield() }
            try await lock.withLock { ran.withLock { $0 = true } }
        }
        waiter.cancel()
        // The holder is still holding: the waiter can finish only by failing.
        let deadline = ContinuousClock.now + .seconds(2)
        while !finished.withLock({ $0 }) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(finished.withLock { $0 }, "the cancelled waiter still waits for the holder")
        release.yield()
        try await holder.value
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(ran.withLock { $0 } == false)
        #expect(try await lock.withLock { "free" } == "free")
    }

    /// With two permits (the store's readers), two hold it at once and a third waits for one of them; taking every
    /// permit (a store closing) waits for both.
    @Test func twoPermitsAdmitTwoHoldersAndTheThirdWaits() async throws {
        let lock = AsyncLock(permits: 2)
        let (first, releaseFirst) = await hold(lock)
        let (second, releaseSecond) = await hold(lock)
        let third = Task { try await lock.withLock { "ran" } }
        try await waitUntilQueued(lock, count: 1)
        releaseFirst.yield()
        #expect(try await third.value == "ran")
        let all = Task { try await lock.withAllPermits(2) { "every permit" } }
        try await waitUntilQueued(lock, count: 1)
        releaseSecond.yield()
        #expect(try await all.value == "every permit")
        try await first.value
        try await second.value
        // Given back: the lock serves again.
        #expect(try await lock.withLock { 1 } == 1)
    }

    private func waitUntilQueued(_ lock: AsyncLock, count: Int) async throws {
        try await waitUntil("\(count) waiters are queued", timeout: .seconds(5), interval: .milliseconds(1)) { lock.queuedWaiters >= count }
    }
}

/// A value tasks share, behind a mutex (a `Mutex` itself cannot be captured by an escaping closure).
private final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}
