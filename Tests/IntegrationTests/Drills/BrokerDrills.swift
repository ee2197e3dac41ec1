import Foundation
import Testing

extension Drills {
    /// How long drill (f) keeps the broker frozen.
    static let freeze: Duration = .seconds(10)
    /// How long drill (g) keeps the broker dead before starting it again.
    static let brokerOutage: Duration = .seconds(3)

    /// (f), (g), (h): the broker frozen (SIGSTOP) for 10 s under load, then killed and started
    /// again under load. No service is restarted: the same processes accept every write while
    /// the broker is away and deliver all of it once it is back.
    @Test func brokerFrozenThenKilledUnderLoad() async throws {
        let count = DrillMode.isFull ? 100 : 40
        try await CinemaCluster.with(environment: Self.timings) { cluster in
            try await prepareMovie(cluster)
            let processesBefore = cluster.servicePids()

            var reservedBefore = try await reservedIds(cluster)
            var started = ContinuousClock.now
            let frozen = try await cluster.burst(count: count, path: "/reservations", body: Self.reservation, idField: "rsvId") {
                cluster.freezeBroker(true)
                try await Task.sleep(for: Self.freeze)
                cluster.freezeBroker(false)
            }
            // Writes are accepted while the broker is frozen: they wait in the outboxes.
            #expect(frozen.acceptedIds.count == count, "refused while the broker was frozen: \(frozen.refused)")
            try await settleAndRecord(
                cluster, drill: "(f) broker frozen (SIGSTOP) \(Self.freeze) during \(count) reservations",
                burst: frozen, reservedBefore: reservedBefore, started: started
            )

            // Tansu keeps its log in memory: what was written before the crash and not read by
            // then would die with it (a real Kafka keeps it on disk). The drill therefore crashes
            // it once everything is read (the settle above waited for that), and counts what
            // is written while it is dead and after it came back.
            reservedBefore = try await reservedIds(cluster)
            started = ContinuousClock.now
            cluster.crashBroker()
            let killed = try await cluster.burst(count: count, path: "/reservations", body: Self.reservation, idField: "rsvId") {
                try await Task.sleep(for: Self.brokerOutage)
                try await cluster.startBroker()
            }
            #expect(killed.acceptedIds.count == count, "refused while the broker was dead: \(killed.refused)")
            try await settleAndRecord(
                cluster, drill: "(g) broker killed (-9), started again after \(Self.brokerOutage), during \(count) reservations",
                burst: killed, reservedBefore: reservedBefore, started: started
            )
            #expect(cluster.servicePids() == processesBefore, "a service was restarted or died")
        }
    }
}

extension CinemaCluster {
    /// Each running service's process id: equal before and after a drill when nothing restarted.
    func servicePids() -> [String: Int32] {
        processes.filter { $0.value.isRunning }.mapValues(\.pid)
    }
}
