import CinemaPolling
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import Testing

@testable import CinemaHTTP

@Suite struct EventStreamHubTests {
    /// The next `count` frames of a stream, failing rather than waiting for ever.
    func take(_ count: Int, from frames: AsyncStream<EventStreamFrame>) async throws -> [EventStreamFrame] {
        try await withThrowingTaskGroup(of: [EventStreamFrame].self) { group in
            group.addTask {
                var taken: [EventStreamFrame] = []
                for await frame in frames {
                    taken.append(frame)
                    if taken.count == count { break }
                }
                return taken
            }
            group.addTask {
                try await Task.sleep(for: .seconds(5))
                throw CancellationError()
            }
            let result = try await group.next() ?? []
            group.cancelAll()
            return result
        }
    }

    @Test func everySubscriberGetsEveryEventInOrder() async throws {
        let hub = EventStreamHub(incarnation: "t")
        let first = try #require(hub.subscribe(lastEventID: nil))
        let second = try #require(hub.subscribe(lastEventID: nil))
        #expect(first.replay == .snapshot(id: "t-0"))
        hub.publish(name: "movieview", data: "one")
        hub.publish(name: "cinema", data: "two")
        for subscription in [first, second] {
            let frames = try await take(2, from: subscription.frames)
            #expect(
                frames == [.event(.init(id: "t-1", name: "movieview", data: "one")), .event(.init(id: "t-2", name: "cinema", data: "two"))])
        }
    }

    @Test func aReconnectionReplaysWhatItMissed() async throws {
        let hub = EventStreamHub(incarnation: "t")
        for index in 1...5 { hub.publish(name: "e", data: "\(index)") }
        let subscription = try #require(hub.subscribe(lastEventID: "t-3"))
        #expect(subscription.replay == .events([.init(id: "t-4", name: "e", data: "4"), .init(id: "t-5", name: "e", data: "5")]))
        #expect(hub.subscribe(lastEventID: "t-5")?.replay == .events([]))
    }

    @Test(arguments: [
        nil, "garbage", "t-99",  // never issued
        "other-2",  // another process or replica
        "t-1",  // older than what is kept (3 of 6)
    ])
    func anUnknownOrTooOldIdGetsASnapshot(lastEventID: String?) throws {
        let hub = EventStreamHub(limits: .init(retained: 3), incarnation: "t")
        for index in 1...6 { hub.publish(name: "e", data: "\(index)") }
        #expect(hub.subscribe(lastEventID: lastEventID)?.replay == .snapshot(id: "t-6"))
        // The oldest kept event's predecessor is still a replay.
        #expect(hub.subscribe(lastEventID: "t-3")?.replay == .events((4...6).map { .init(id: "t-\($0)", name: "e", data: "\($0)") }))
    }

    @Test func aSubscriberThatFallsBehindIsDisconnectedNotBuffered() async throws {
        let hub = EventStreamHub(limits: .init(bufferPerClient: 4), incarnation: "t")
        let slow = try #require(hub.subscribe(lastEventID: nil))
        for index in 1...10 { hub.publish(name: "e", data: "\(index)") }
        #expect(hub.subscriberCount == 0)
        var received: [EventStreamFrame] = []
        for await frame in slow.frames { received.append(frame) }
        // What fitted, then the end: its reconnection (Last-Event-ID t-4) replays the rest.
        #expect(received.count == 4)
        #expect(hub.subscribe(lastEventID: "t-4")?.replay == .events((5...10).map { .init(id: "t-\($0)", name: "e", data: "\($0)") }))
    }

    @Test func heartbeatsReachIdleSubscribers() async throws {
        let hub = EventStreamHub()
        let subscription = try #require(hub.subscribe(lastEventID: nil))
        hub.heartbeat()
        #expect(try await take(1, from: subscription.frames) == [.heartbeat])
        #expect(EventStreamFrame.heartbeat.encoded == ": heartbeat\n\n")
    }

    @Test func clientsAreBoundedAndLeavingFreesTheirPlace() throws {
        let hub = EventStreamHub(limits: .init(maxClients: 2))
        let first = try #require(hub.subscribe(lastEventID: nil))
        let second = try #require(hub.subscribe(lastEventID: nil))
        #expect(hub.subscribe(lastEventID: nil) == nil)
        first.close()
        #expect(hub.subscriberCount == 1)
        #expect(hub.subscribe(lastEventID: nil) != nil)
        withExtendedLifetime(second) {}
    }

    @Test func finishingEndsEveryStreamAndRefusesNewOnes() async throws {
        let hub = EventStreamHub()
        let subscription = try #require(hub.subscribe(lastEventID: nil))
        hub.finishAll()
        for await _ in subscription.frames { Issue.record("no frame expected after finishAll") }
        #expect(hub.subscribe(lastEventID: nil) == nil)
    }

    @Test func dataCannotForgeFields() {
        let event = ServerSentEvent(id: "t-1", name: "e", data: "a\nevent: evil\r\ndata: b\rid: 9")
        #expect(event.encoded == "id: t-1\nevent: e\ndata: a\ndata: event: evil\ndata: data: b\ndata: id: 9\n\n")
    }

    @Test func theResponseStreamsTheSnapshotThenLiveEvents() async throws {
        let hub = EventStreamHub(incarnation: "t")
        let router = Router()
        router.get("/events") { request, _ in
            guard let subscription = hub.subscribe(lastEventID: request.headers[HTTPField.Name("Last-Event-ID")!]) else {
                throw APIError(.serviceUnavailable, "full")
            }
            return subscription.response { "{\"rows\":[]}" }
        }
        try await Application(router: router).test(.live) { client in
            let publisher = Task {
                try await waitUntil("the client subscribed") { hub.subscriberCount > 0 }
                hub.publish(name: "movieview", data: "{\"movieId\":1}")
                hub.finishAll()
            }
            try await client.execute(uri: "/events", method: .get) { response in
                #expect(response.headers[.contentType] == "text/event-stream; charset=utf-8")
                #expect(
                    String(buffer: response.body)
                        == "retry: 2000\n\nid: t-0\nevent: snapshot\ndata: {\"rows\":[]}\n\nid: t-1\nevent: movieview\ndata: {\"movieId\":1}\n\n"
                )
            }
            try await publisher.value
        }
    }
}

@Suite(.timeLimit(.minutes(1))) struct EventStreamShutdownTests {
    /// A server with an open stream stops at once on graceful shutdown: the stream ends instead of holding it.
    @Test func gracefulShutdownEndsOpenStreams() async throws {
        let hub = EventStreamHub()
        let router = Router()
        router.get("/events") { _, _ in
            guard let subscription = hub.subscribe(lastEventID: nil) else { throw APIError(.serviceUnavailable, "full") }
            return subscription.response { "{}" }
        }
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) })
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var ports = portStream.makeAsyncIterator()
            let port = try #require(await ports.next())
            // A raw connection: read until the snapshot arrived, then ask the server to stop.
            let socket = try ClientSocket(port: port)
            try socket.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            var received = ""
            while !received.contains("event: snapshot") { received += try socket.receive() }
            let started = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            #expect(ContinuousClock.now - started < .seconds(3))
            #expect(hub.subscriberCount == 0)
        }
    }
}

/// A blocking loopback TCP client, enough for one request whose answer never ends.
final class ClientSocket {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw APIError(.badGateway, "connect failed") }
    }

    deinit { close(descriptor) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count else { throw APIError(.badGateway, "write failed") }
    }

    func receive() throws -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(descriptor, &buffer, buffer.count)
        guard count > 0 else { throw APIError(.badGateway, "connection closed") }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}

@Suite struct StaticAssetsTests {
    func directory(_ files: [String: String]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("assets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: url.appendingPathComponent(name)) }
        return url
    }

    func router(_ assets: StaticAssets) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        router.get("/{name}") { request, context in try assets.response(for: context.parameters.require("name"), request: request) }
        return router
    }

    @Test func servesWithTypeETagAndRevalidation() async throws {
        let assets = StaticAssets(directory: try directory(["index.html": "<p>hi</p>", "app.js": "1", "style.css": "p{}"]))
        try await Application(router: router(assets)).test(.router) { client in
            var etag = ""
            try await client.execute(uri: "/index.html", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.headers[.cacheControl] == "no-cache")
                etag = try #require(response.headers[.eTag])
                #expect(String(buffer: response.body) == "<p>hi</p>")
            }
            try await client.execute(uri: "/index.html", method: .get, headers: [.ifNoneMatch: etag]) { response in
                #expect(response.status == .notModified)
                #expect(response.body.readableBytes == 0)
            }
            try await client.execute(uri: "/app.js", method: .get) { response in
                #expect(response.headers[.contentType] == "text/javascript; charset=utf-8")
            }
            try await client.execute(uri: "/style.css", method: .get) { response in
                #expect(response.headers[.contentType] == "text/css; charset=utf-8")
            }
            try await client.execute(uri: "/nothing.js", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func aMissingDirectoryIsAnEmptySetNotACrash() async throws {
        let assets = StaticAssets(directory: URL(fileURLWithPath: "/nonexistent/\(UUID().uuidString)"))
        #expect(assets.assets.isEmpty)
        #expect(StaticAssets(directory: nil).assets.isEmpty)
        try await Application(router: router(assets)).test(.router) { client in
            try await client.execute(uri: "/index.html", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("no assets are installed"))
            }
        }
    }

    @Test func etagsDependOnContentOnly() {
        #expect(StaticAssets.etag(of: Array("a".utf8)) == StaticAssets.etag(of: Array("a".utf8)))
        #expect(StaticAssets.etag(of: Array("a".utf8)) != StaticAssets.etag(of: Array("b".utf8)))
    }
}
