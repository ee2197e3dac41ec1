import CinemaJSON
import CinemaPolling
import Foundation
import NIOHTTP1
import Testing

/// The dashboard in a real browser (Debian's headless Chromium, driven by `Browser/dashboard_browser.py` through
/// selenium and chromium-driver) against a real system started on free ports: a reservation made through the API must
/// show in the open page's row within 2 s; markup in a movie description stays text; a form shows the API's error;
/// the health strip and the event feed fill; the page fits 390 px. Screenshots are kept under `.run/artefacts/`.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DashboardBrowserTests {
    static let script = CinemaCluster.packageRoot.appendingPathComponent("Tests/IntegrationTests/Browser/dashboard_browser.py")
    static let artefacts = CinemaCluster.packageRoot.appendingPathComponent(".run/artefacts")

    @Test func aReservationShowsOnTheOpenPageWithinTwoSeconds() async throws {
        // scripts/setup.sh installs them; without them this test fails (it must not pass without a browser).
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            #expect(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing: run make setup")
        }
        try await CinemaCluster.with { cluster in
            let movie = try await cluster.request(.POST, "/movies", body: #"{"desc":"Dashboard Matinee","seats":5}"#)
            #expect(movie.status == 201)
            let hostileDesc = #"<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">"#
            let hostile = try await cluster.request(
                .POST, "/movies", body: String(decoding: JSONValue.object([("desc", .string(hostileDesc))]).serialized(), as: UTF8.self))
            #expect(hostile.status == 201)
            guard case .integer(let movieId)? = movie.json?["movieId"], case .integer(let hostileId)? = hostile.json?["movieId"] else {
                Issue.record("no movie ids in \(movie.text) / \(hostile.text)")
                return
            }
            // Reservation learns movies from events: the page test starts once both the view and reservation know it.
            _ = try await eventually("the movies in the view") { () -> Bool? in
                try await cluster.items("movieviews").count == 2 ? true : nil
            }
            let output = try await Self.runBrowser(
                arguments: [cluster.gatewayURL, Self.artefacts.path, String(movieId), String(hostileId)])
            print(output.text)
            #expect(output.status == 0, "the browser check failed:\n\(output.text)")
            #expect(output.text.contains("PASS row-update-ms="))
        }
    }

    static func runBrowser(arguments: [String]) async throws -> (status: Int32, text: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script.path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Read on a thread of its own: the pipe must be drained while the browser runs.
        let text = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
        return (process.terminationStatus, text)
    }
}
