import Testing

@testable import Gateway

/// The rules of load shedding, on plain values: no continuations, no clock, every step checked.
@Suite("Admission queue")
struct AdmissionQueueTests {
    @Test(arguments: [(1, 0), (1, 3), (4, 0), (4, 8), (64, 128)])
    func admitsUpToTheLimitQueuesUpToTheMaximumAndRejectsBeyond(maxConcurrent: Int, maxQueued: Int) {
        var queue = AdmissionQueue<Int>(maxConcurrent: maxConcurrent, maxQueued: maxQueued)
        for _ in 0..<maxConcurrent {
            #expect(queue.arrive() == .admitted)
        }
        for waiter in 0..<maxQueued {
            #expect(queue.arrive() == .mustWait)
            #expect(queue.enqueue(waiter, isCancelled: false) == .waiting(id: UInt64(waiter + 1)))
        }
        #expect(queue.arrive() == .rejected(startsShedding: true))
        #expect(queue.arrive() == .rejected(startsShedding: false))
        #expect(queue.inFlight == maxConcurrent)
        #expect(queue.queued == maxQueued)
        #expect(queue.shedInEpisode == 2)
    }

    @Test func releaseHandsTheSlotToTheOldestWaiter() {
        var queue = AdmissionQueue<String>(maxConcurrent: 1, maxQueued: 3)
        #expect(queue.arrive() == .admitted)
        for name in ["first", "second", "third"] {
            #expect(queue.arrive() == .mustWait)
            _ = queue.enqueue(name, isCancelled: false)
        }
        var order: [String] = []
        for _ in 0..<3 {
            guard case .handOver(let waiter) = queue.release() else {
                Issue.record("a waiter was skipped")
                return
            }
            order.append(waiter)
            // The slot changed hands: still one in flight.
            #expect(queue.inFlight == 1)
        }
        #expect(order == ["first", "second", "third"])
        guard case .freed(let ended) = queue.release() else {
            Issue.record("nobody waits any more, the slot must be freed")
            return
        }
        #expect(ended == nil, "nothing was shed")
        #expect(queue.inFlight == 0)
    }

    @Test func aNewcomerDoesNotOvertakeAWaiter() {
        var queue = AdmissionQueue<Int>(maxConcurrent: 2, maxQueued: 2)
        #expect(queue.arrive() == .admitted)
        #expect(queue.arrive() == .admitted)
        #expect(queue.arrive() == .mustWait)
        _ = queue.enqueue(1, isCancelled: false)
        guard case .handOver(1) = queue.release() else {
            Issue.record("the waiter must get the slot")
            return
        }
        // Both slots are taken again, by the first holder and the former waiter.
        #expect(queue.arrive() == .mustWait)
    }

    @Test func enqueueingDecidesAgainWhatChangedMeanwhile() {
        var queue = AdmissionQueue<Int>(maxConcurrent: 1, maxQueued: 1)
        #expect(queue.arrive() == .admitted)
        #expect(queue.arrive() == .mustWait)
        // The holder finished before the waiter got to the lock again.
        _ = queue.release()
        #expect(queue.enqueue(1, isCancelled: false) == .admitted)
        #expect(queue.inFlight == 1)
        #expect(queue.queued == 0)

        // Another filled the queue meanwhile.
        #expect(queue.arrive() == .mustWait)
        #expect(queue.arrive() == .mustWait)
        #expect(queue.enqueue(2, isCancelled: false) == .waiting(id: 1))
        #expect(queue.enqueue(3, isCancelled: false) == .rejected(startsShedding: true))
    }

    @Test func aCancelledWaiterIsNotQueued() {
        var queue = AdmissionQueue<Int>(maxConcurrent: 1, maxQueued: 1)
        #expect(queue.arrive() == .admitted)
        #expect(queue.arrive() == .mustWait)
        #expect(queue.enqueue(1, isCancelled: true) == .cancelled)
        #expect(queue.queued == 0)
        #expect(queue.inFlight == 1)
        #expect(queue.shedInEpisode == nil, "a cancelled wait is no refusal")
    }

    @Test(arguments: [true, false])
    func aRemovedWaiterIsTakenOutOnceAndNeverHandedASlot(timedOut: Bool) {
        var queue = AdmissionQueue<String>(maxConcurrent: 1, maxQueued: 2)
        #expect(queue.arrive() == .admitted)
        #expect(queue.arrive() == .mustWait)
        guard case .waiting(let leaving) = queue.enqueue("leaving", isCancelled: false) else {
            Issue.record("not queued")
            return
        }
        #expect(queue.arrive() == .mustWait)
        _ = queue.enqueue("staying", isCancelled: false)

        let removal = queue.remove(id: leaving, timedOut: timedOut)
        #expect(removal?.waiter == "leaving")
        // A timed-out wait is a refusal (and starts shedding); a client that went away is not.
        #expect(removal?.startsShedding == timedOut)
        #expect(queue.shedInEpisode == (timedOut ? 1 : nil))
        #expect(queue.remove(id: leaving, timedOut: timedOut) == nil, "removed twice")

        guard case .handOver("staying") = queue.release() else {
            Issue.record("the slot must go to the waiter still queued")
            return
        }
        #expect(queue.queued == 0)
    }

    @Test func sheddingEndsWhenASlotIsFreeAndNobodyWaits() {
        var queue = AdmissionQueue<Int>(maxConcurrent: 1, maxQueued: 1)
        #expect(queue.arrive() == .admitted)
        #expect(queue.arrive() == .mustWait)
        _ = queue.enqueue(1, isCancelled: false)
        #expect(queue.arrive() == .rejected(startsShedding: true))
        #expect(queue.arrive() == .rejected(startsShedding: false))
        #expect(queue.arrive() == .rejected(startsShedding: false))
        // A handover keeps every slot taken: still shedding.
        guard case .handOver = queue.release() else {
            Issue.record("the waiter must get the slot")
            return
        }
        #expect(queue.isShedding)
        guard case .freed(let ended) = queue.release() else {
            Issue.record("the slot must be freed")
            return
        }
        #expect(ended == 3)
        #expect(!queue.isShedding)
        #expect(queue.arrive() == .admitted)
    }

    /// Property-style: a long random sequence of arrivals, releases, timeouts and departures, against a model of who
    /// holds a slot and who waits. Every step keeps the invariants; at the end every slot comes back.
    @Test(arguments: [1, 2, 3, 42, 2024] as [UInt64])
    func randomOperationsKeepTheInvariantsAndLeakNoSlot(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let maxConcurrent = Int.random(in: 1...5, using: &random)
        let maxQueued = Int.random(in: 0...6, using: &random)
        var queue = AdmissionQueue<Int>(maxConcurrent: maxConcurrent, maxQueued: maxQueued)
        var holders = 0
        var waiting: [(id: UInt64, waiter: Int)] = []
        var resumed = Set<Int>()
        var nextWaiter = 0

        func checkInvariants(_ step: Int) {
            #expect(queue.inFlight == holders, "step \(step)")
            #expect(queue.queued == waiting.count, "step \(step)")
            #expect(queue.inFlight <= maxConcurrent, "step \(step)")
            #expect(queue.queued <= maxQueued, "step \(step)")
            #expect(waiting.isEmpty || queue.inFlight == maxConcurrent, "a request waits although a slot is free (step \(step))")
        }

        for step in 0..<5_000 {
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<5:
                switch queue.arrive() {
                case .admitted:
                    holders += 1
                case .rejected:
                    #expect(waiting.count == maxQueued)
                case .mustWait:
                    nextWaiter += 1
                    switch queue.enqueue(nextWaiter, isCancelled: Int.random(in: 0..<20, using: &random) == 0) {
                    case .waiting(let id): waiting.append((id, nextWaiter))
                    case .admitted: Issue.record("admitted on enqueue although nothing changed since arrival")
                    case .rejected: Issue.record("rejected on enqueue although nothing changed since arrival")
                    case .cancelled: break
                    }
                }
            case 5..<8 where holders > 0:
                switch queue.release() {
                case .handOver(let waiter):
                    #expect(waiter == waiting.first?.waiter, "not the oldest waiter")
                    #expect(resumed.insert(waiter).inserted, "resumed twice")
                    waiting.removeFirst()
                case .freed:
                    #expect(waiting.isEmpty)
                    holders -= 1
                }
            case 8..<10 where !waiting.isEmpty:
                let index = Int.random(in: 0..<waiting.count, using: &random)
                let removal = queue.remove(id: waiting[index].id, timedOut: Bool.random(using: &random))
                #expect(removal?.waiter == waiting[index].waiter)
                if let waiter = removal?.waiter { #expect(resumed.insert(waiter).inserted, "resumed twice") }
                waiting.remove(at: index)
            default:
                break
            }
            checkInvariants(step)
        }
        // Everyone still holding or waiting finishes: every slot comes back, nobody is left waiting.
        while holders > 0 {
            if case .freed = queue.release() { holders -= 1 } else { waiting.removeFirst() }
        }
        #expect(queue.inFlight == 0)
        #expect(queue.queued == 0)
        #expect(!queue.isShedding)
    }
}

/// A small seeded generator, so that a failing random sequence can be replayed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = self.state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
