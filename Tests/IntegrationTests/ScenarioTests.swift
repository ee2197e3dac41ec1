import CinemaJSON
import CinemaPolling
import Foundation
import NIOHTTP1
import Testing

/// The original document's walkthrough, through the gateway, against real processes and a real
/// broker: register two movies, reserve movie 1 twice, cancel reservation 1, review movie 1.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct EndToEndTests {
    @Test func documentScenarioReachesTheDocumentedStateAndEventLog() async throws {
        try await CinemaCluster.with(runScenario)
    }

    func runScenario(_ cluster: CinemaCluster) async throws {
        // http POST localhost:8088/movies desc="Beautiful Movie~"
        let first = try await cluster.request(.POST, "/movies", body: #"{"desc":"Beautiful Movie~"}"#)
        #expect(first.status == 201)
        #expect(first.headers.first(name: "Location") == "\(cluster.gatewayURL)/movies/1")
        #expect(first.json?["_links"]?["self"]?["href"] == .string("\(cluster.gatewayURL)/movies/1"))
        let second = try await cluster.request(.POST, "/movies", body: #"{"desc":"Happy Story!"}"#)
        #expect(second.status == 201)
        #expect(second.json?["movieId"] == .integer(2))

        // The reservation service learns movies from events; until then it refuses with 422.
        let reservation1 = try await eventually("reservation accepted for movie 1") { () -> CinemaCluster.Reply? in
            let reply = try await cluster.request(.POST, "/reservations", body: #"{"movieId":"1","status":"reqReserve"}"#)
            if reply.status == 422 { return nil }
            return reply
        }
        #expect(reservation1.status == 201)
        #expect(reservation1.json?["rsvId"] == .integer(1))
        #expect(reservation1.json?["status"] == .string("reqReserve"))
        try await waitForReservation(cluster, id: 1, status: "reserved")
        try await waitForMovieStatus(cluster, movieId: 1, status: "reserved", messages: 1)

        // The client omits status: it defaults to reqReserve (the original stored null).
        let reservation2 = try await cluster.request(.POST, "/reservations", body: #"{"movieId":1}"#)
        #expect(reservation2.status == 201)
        #expect(reservation2.json?["rsvId"] == .integer(2))
        #expect(reservation2.json?["status"] == .string("reqReserve"))
        try await waitForReservation(cluster, id: 2, status: "reserved")
        try await waitForMovieStatus(cluster, movieId: 1, status: "reserved", messages: 2)
        _ = try await eventually("second MovieReserved") { () -> Bool? in
            try await cluster.events().filter { $0.json.contains(#""eventType":"MovieReserved""#) }.count == 2 ? true : nil
        }

        // http PATCH localhost:8088/reservations/1 status=reqCancel
        let cancel = try await cluster.request(.PATCH, "/reservations/1", body: #"{"status":"reqCancel"}"#)
        #expect(cancel.status == 200)
        #expect(cancel.json?["status"] == .string("reqCancel"))
        try await waitForReservation(cluster, id: 1, status: "cancelled")
        // Reservation 2 still holds the movie: it stays reserved, and says the cancellation happened.
        try await waitForMovieStatus(cluster, movieId: 1, status: "reserved", messages: 3)
        _ = try await eventually("movie 1 announced the cancellation") { () -> Bool? in
            try await cluster.request(.GET, "/movies/1").json?["lastAction"] == .string("cancelled") ? true : nil
        }

        let review = try await cluster.request(.POST, "/reviews", body: #"{"movieId":"1","content":"Great!"}"#)
        #expect(review.status == 201)
        _ = try await eventually("review counted in the view") { () -> Bool? in
            let view = try await cluster.request(.GET, "/movieViews/1")
            return view.json?["reviewCnt"] == .integer(1) ? true : nil
        }

        // Final state of every resource.
        let movies = try await cluster.items("movies")
        #expect(movies.map { $0["movieId"] } == [.integer(1), .integer(2)])
        // Reservation 2 still holds movie 1.
        #expect(movies[0]["status"] == .string("reserved"))
        #expect(movies[0]["reviewCnt"] == .integer(1))
        #expect(movies[0]["lastAction"] == .string("review"))
        #expect(movies[1]["status"] == .string("available"))
        #expect(movies[1]["lastAction"] == .string("register"))

        let reservations = try await cluster.items("reservations")
        #expect(reservations.map { $0["status"] } == [.string("cancelled"), .string("reserved")])
        #expect(reservations.map { $0["payId"] } == [.integer(1), .integer(2)])

        let payments = try await cluster.items("payments")
        #expect(payments.map { $0["status"] } == [.string("cancelled"), .string("paid")])
        #expect(payments.map { $0["rsvId"] } == [.integer(1), .integer(2)])

        let messages = try await cluster.items("messages")
        #expect(
            messages.map { $0["content"] } == [
                .string("예약이 완료 되었습니다. 예약 영화 번호 : [1]"),
                .string("예약이 완료 되었습니다. 예약 영화 번호 : [1]"),
                .string("예약이 취소 되었습니다. 예약 영화 번호 : [1]"),
            ])

        let reviews = try await cluster.items("reviews")
        #expect(reviews.count == 1)
        #expect(reviews.first?["movieId"] == .integer(1))

        let views = try await cluster.items("movieviews")
        #expect(views.count == 2)
        // The row shows the latest reservation, still live: cancelling reservation 1 does not touch it.
        #expect(views[0]["movieStatus"] == .string("reserved"))
        #expect(views[0]["reviewCnt"] == .integer(1))
        #expect(views[0]["rsvId"] == .integer(2))
        #expect(views[0]["rsvStatus"] == .string("reserved"))
        #expect(views[0]["payId"] == .integer(2))
        #expect(views[0]["payStatus"] == .string("paid"))
        #expect(views[1]["movieStatus"] == .string("available"))
        #expect(views[1]["rsvId"] == .null)

        // The exact event log, per movie in topic order, with the original's shapes.
        let events = try await eventually("all 16 events on the topic") { () -> [(partition: Int, offset: Int, json: String)]? in
            let events = try await cluster.events()
            return events.count >= 16 ? events : nil
        }
        #expect(events.count == 16)
        let normalized = events.map { Self.withoutTimestamp($0.json) }
        let movie2 = normalized.filter { $0.contains(#""movieId":2"#) }
        #expect(
            movie2 == [
                #"{"eventType":"MovieRegistered","timestamp":T,"movieId":2,"status":"available","desc":"Happy Story!","reviewCnt":0,"lastAction":"register","me":true}"#
            ])
        let movie1 = normalized.filter { $0.contains(#""movieId":1"#) }
        #expect(
            movie1 == [
                #"{"eventType":"MovieRegistered","timestamp":T,"movieId":1,"status":"available","desc":"Beautiful Movie~","reviewCnt":0,"lastAction":"register","me":true}"#,
                #"{"eventType":"PaymentApproved","timestamp":T,"payId":1,"rsvId":1,"movieId":1,"status":"paid","me":true}"#,
                #"{"eventType":"ReservationCreated","timestamp":T,"rsvId":1,"movieId":1,"status":"reqReserve","payId":null,"me":true}"#,
                #"{"eventType":"ReservationConfirmed","timestamp":T,"rsvId":1,"movieId":1,"status":"reserved","payId":1,"me":true}"#,
                #"{"eventType":"MovieReserved","timestamp":T,"movieId":1,"status":"reserved","desc":"Beautiful Movie~","reviewCnt":0,"lastAction":"reserved","me":true}"#,
                #"{"eventType":"PaymentApproved","timestamp":T,"payId":2,"rsvId":2,"movieId":1,"status":"paid","me":true}"#,
                #"{"eventType":"ReservationCreated","timestamp":T,"rsvId":2,"movieId":1,"status":"reqReserve","payId":null,"me":true}"#,
                #"{"eventType":"ReservationConfirmed","timestamp":T,"rsvId":2,"movieId":1,"status":"reserved","payId":2,"me":true}"#,
                #"{"eventType":"MovieReserved","timestamp":T,"movieId":1,"status":"reserved","desc":"Beautiful Movie~","reviewCnt":0,"lastAction":"reserved","me":true}"#,
                #"{"eventType":"ReservationCancelRequested","timestamp":T,"rsvId":1,"movieId":1,"status":"reqCancel","payId":1,"me":true}"#,
                #"{"eventType":"PaymentCancelled","timestamp":T,"payId":1,"rsvId":1,"movieId":1,"status":"cancelled","me":true}"#,
                #"{"eventType":"ReservationCancelled","timestamp":T,"rsvId":1,"movieId":1,"status":"cancelled","payId":1,"me":true}"#,
                #"{"eventType":"MovieCancelled","timestamp":T,"movieId":1,"status":"reserved","desc":"Beautiful Movie~","reviewCnt":0,"lastAction":"cancelled","me":true}"#,
                #"{"eventType":"ReviewCreated","timestamp":T,"reviewId":1,"movieId":1,"content":"Great!","me":true}"#,
                #"{"eventType":"MovieModified","timestamp":T,"movieId":1,"status":"reserved","desc":"Beautiful Movie~","reviewCnt":1,"lastAction":"review","me":true}"#,
            ])
        // Every timestamp is 14 digits of today's local date and time.
        for event in events {
            #expect(event.json.range(of: #""timestamp":"\d{14}""#, options: .regularExpression) != nil)
        }
        // Every service said which librdkafka it loaded (2.0.2 cannot talk to Tansu at all). The
        // gateway is built from the HTTP and observability modules only: it never loads librdkafka,
        // and no SQLite is compiled into it.
        for (name, process) in cluster.processes {
            // procfs files report a size of 0, so read to the end rather than by size.
            let mapsFile = FileHandle(forReadingAtPath: "/proc/\(process.pid)/maps")
            let maps = String(decoding: (try? mapsFile?.readToEnd()) ?? Data(), as: UTF8.self)
            let usesKafka = name != "gateway"
            #expect(process.log.contains("kafka.library.version=") == usesKafka, "\(name): librdkafka version logged")
            #expect(maps.contains("librdkafka") == usesKafka, "\(name): librdkafka mapped")
        }
        let sqliteSymbol = Data("sqlite3_prepare_v2".utf8)
        let gatewayBinary = try Data(contentsOf: CinemaCluster.binaryDirectory.appendingPathComponent("gateway"))
        let movieBinary = try Data(contentsOf: CinemaCluster.binaryDirectory.appendingPathComponent("movie"))
        #expect(gatewayBinary.range(of: sqliteSymbol) == nil, "SQLite is linked into the gateway")
        #expect(movieBinary.range(of: sqliteSymbol) != nil)
    }

    static func withoutTimestamp(_ json: String) -> String {
        json.replacingOccurrences(of: #""timestamp":"\d{14}""#, with: #""timestamp":T"#, options: .regularExpression)
    }
}

func waitForReservation(_ cluster: CinemaCluster, id: Int, status: String) async throws {
    _ = try await eventually("reservation \(id) \(status)") { () -> Bool? in
        let reply = try await cluster.request(.GET, "/reservations/\(id)")
        return reply.json?["status"] == .string(status) ? true : nil
    }
}

func waitForMovieStatus(_ cluster: CinemaCluster, movieId: Int, status: String, messages: Int) async throws {
    _ = try await eventually("movie \(movieId) \(status) with \(messages) messages") { () -> Bool? in
        let movie = try await cluster.request(.GET, "/movies/\(movieId)")
        let view = try await cluster.request(.GET, "/movieviews/\(movieId)")
        let count = try await cluster.items("messages").count
        return movie.json?["status"] == .string(status) && view.json?["movieStatus"] == .string(status) && count == messages
            ? true : nil
    }
}
