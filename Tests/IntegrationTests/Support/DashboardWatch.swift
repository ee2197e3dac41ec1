import AsyncHTTPClient
import CinemaPolling
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A browser's `EventSource` on one process's `/dashboard/events`: reads the stream in a task of its own, from the
/// snapshot a new page gets, and remembers whether an event satisfying `matching` came.
final class DashboardWatch: Sendable {
    private let matched = Mutex(false)
    private let reader = Mutex<Task<Void, any Error>?>(nil)

    /// Returns once the stream is open and its snapshot has come: from then on, every change is streamed to it.
    static func open(_ url: String, matching: @escaping @Sendable (_ name: String, _ data: String) -> Bool) async throws -> DashboardWatch {
        let watch = DashboardWatch()
        let (opened, signal) = AsyncStream<Void>.makeStream()
        let task = Task {
            defer { signal.finish() }
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "text/event-stream")
            // Longer than any test: the stream is meant to stay open, and the task is cancelled at the end.
            let response = try await HTTPClient.shared.execute(request, timeout: .minutes(10))
            var text = ""
            for try await chunk in response.body {
                text += String(buffer: chunk)
                // An event ends with a blank line; fields are `name: value` lines.
                while let end = text.range(of: "\n\n") {
                    let block = text[..<end.lowerBound]
                    text = String(text[end.upperBound...])
                    var name = "message"
                    var data: [Substring] = []
                    for line in block.split(separator: "\n") {
                        if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                        if line.hasPrefix("data: ") { data.append(line.dropFirst(6)) }
                    }
                    if name == "snapshot" { signal.yield() }
                    if matching(name, data.joined(separator: "\n")) { watch.matched.withLock { $0 = true } }
                }
            }
        }
        watch.reader.withLock { $0 = task }
        for await _ in opened { return watch }
        // The stream ended before its snapshot: the request's error says why.
        try await task.value
        throw TimedOut(waitingFor: "the snapshot of \(url)", lastError: nil)
    }

    var hasMatched: Bool { matched.withLock { $0 } }

    func close() { reader.withLock { $0?.cancel() } }
}
