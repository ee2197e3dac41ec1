import CinemaEvents
import CinemaKit
import SQLKit
import Testing

/// Rows are read and written through the entity's Codable conformance.
@Suite struct TableTests {
    static let reservations = Table<Reservation>("reservation", idColumn: "rsvId", id: \.rsvId) {
        $0.identityColumn("rsvId")
            .column("movieId", type: .bigint, .notNull)
            .column("status", type: .text)
            .column("payId", type: .bigint)
    }
    static let schema = [reservations.creation]

    @Test func insertAssignsTheIdAndEveryFieldRoundTrips() async throws {
        let store = try await temporaryStore(schema: Self.schema)
        let first = try await store.transaction { database in
            try await Self.reservations.insertAssigningID(Reservation(rsvId: 0, movieId: 7, status: .requested, payId: nil), on: database)
        }
        let second = try await store.transaction { database in
            try await Self.reservations.insertAssigningID(Reservation(rsvId: 0, movieId: 8, status: .reserved, payId: 3), on: database)
        }
        #expect(first.rsvId == 1)
        #expect(second.rsvId == 2)
        let stored = try await store.read { try await Self.reservations.all(on: $0) }
        #expect(stored == [first, second])
        // The status is stored as the original's word.
        let raw = try await store.read { database in
            try await database.select().column("status").from("reservation").where("rsvId", .equal, SQLBind(Int64(1)))
                .first(decodingColumn: "status", as: String.self)
        }
        #expect(raw == "reqReserve")
        await store.close()
    }

    @Test func updateWritesEveryColumnIncludingNulls() async throws {
        let store = try await temporaryStore(schema: Self.schema)
        var row = try await store.transaction { database in
            try await Self.reservations.insertAssigningID(Reservation(rsvId: 0, movieId: 7, status: .reserved, payId: 4), on: database)
        }
        row.status = .cancelled
        row.payId = nil
        let updated = row
        try await store.transaction { try await Self.reservations.update(updated, on: $0) }
        #expect(try await store.read { try await Self.reservations.find(updated.rsvId, on: $0) } == updated)
        await store.close()
    }

    @Test func aMissingRowIsADomainNotFoundNamingIt() async throws {
        let store = try await temporaryStore(schema: Self.schema)
        await #expect(throws: DomainError.notFound("no reservation with id 42")) {
            try await store.read { try await Self.reservations.require(42, on: $0) }
        }
        await store.close()
    }
}
