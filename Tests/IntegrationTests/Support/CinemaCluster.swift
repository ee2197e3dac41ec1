import AsyncHTTPClient
import CinemaJSON
import CinemaPolling
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// The whole system as separate processes: a Tansu broker, the five services and the gateway,
/// on free loopback ports with their databases in a fresh temporary folder. Tests talk to it
/// only through the gateway, as a client would.
final class CinemaCluster {
    static let serviceNames = ["payment", "movie", "reservation", "message", "viewpage"]

    let directory: URL
    let brokerPort: Int
    let ports: [String: Int]
    private(set) var processes: [String: ManagedProcess] = [:]
    /// Settings every process gets on top of the cluster's own (a drill's shorter timings).
    var extraEnvironment: [String: String] = [:]
    private var broker: ManagedProcess?

    var gatewayURL: String { "http://127.0.0.1:\(ports["gateway"]!)" }
    var brokerAddress: String { "127.0.0.1:\(brokerPort)" }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    static var binaryDirectory: URL {
        if let configured = ProcessInfo.processInfo.environment["CINEMA_BIN_DIR"] {
            return URL(fileURLWithPath: configured)
        }
        return packageRoot.appendingPathComponent(".build/debug")
    }

    static var tansu: URL {
        if let configured = ProcessInfo.processInfo.environment["TANSU_BIN"] {
            return URL(fileURLWithPath: configured)
        }
        return packageRoot.appendingPathComponent(".tools/bin/tansu")
    }

    static var kcat: URL {
        let bundled = packageRoot.appendingPathComponent(".tools/bin/kcat")
        return FileManager.default.isExecutableFile(atPath: bundled.path) ? bundled : URL(fileURLWithPath: "/usr/bin/kcat")
    }

    /// The environment every child gets: ours (LD_LIBRARY_PATH with the librdkafka that speaks
    /// to Tansu comes from `make test`), plus the package's `.tools/lib` in case it is missing.
    static var baseEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        let toolsLib = packageRoot.appendingPathComponent(".tools/lib").path
        let current = environment["LD_LIBRARY_PATH"] ?? ""
        if !current.split(separator: ":").contains(Substring(toolsLib)) {
            environment["LD_LIBRARY_PATH"] = current.isEmpty ? toolsLib : "\(toolsLib):\(current)"
        }
        environment["LOG_LEVEL"] = environment["CINEMA_TEST_LOG_LEVEL"] ?? "debug"
        environment[ownerVariable] = String(getpid())
        return environment
    }

    /// Marks every child with the test process's pid, so children a crashed test run left behind
    /// can be recognised (their owner is gone) and stopped by the next run.
    static let ownerVariable = "CINEMA_TEST_OWNER"

    static func stopOrphansOfDeadTestRuns() {
        let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in processes.compactMap(Int32.init) {
            guard let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            let marker = Array("\(ownerVariable)=".utf8)
            for entry in environ.split(separator: 0) where entry.starts(with: marker) {
                guard let owner = Int32(String(decoding: entry.dropFirst(marker.count), as: UTF8.self)) else { continue }
                if owner != getpid(), !FileManager.default.fileExists(atPath: "/proc/\(owner)") {
                    Glibc.kill(pid, SIGKILL)
                }
            }
        }
    }

    /// How a cluster keeps its state: a SQLite file per process, or one PostgreSQL database per
    /// service on the server `make test` starts, shared by the service's replicas.
    enum Database: Equatable {
        case sqlite
        case postgres(serverURL: String)
    }

    let database: Database
    let replicas: Int
    /// Unique per cluster: its PostgreSQL databases are `<prefix>_<service>`, dropped by `make test`.
    let databasePrefix = "test_it_" + UUID().uuidString.prefix(8).lowercased()

    init(database: Database = .sqlite, replicas: Int = 1) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cinema-it-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        brokerPort = freePort()
        self.database = database
        self.replicas = replicas
        var ports: [String: Int] = [:]
        for name in Self.instanceNames(replicas: replicas) + ["gateway"] { ports[name] = freePort() }
        self.ports = ports
    }

    /// Every service process: `reservation`, then `reservation-2` … for more replicas.
    static func instanceNames(replicas: Int) -> [String] {
        serviceNames.flatMap { name in [name] + (1..<max(1, replicas)).map { "\(name)-\($0 + 1)" } }
    }

    var instanceNames: [String] { Self.instanceNames(replicas: replicas) }

    /// The service a process belongs to (`reservation-2` → `reservation`).
    static func service(of name: String) -> String {
        guard let dash = name.lastIndex(of: "-"), name[name.index(after: dash)...].allSatisfy(\.isNumber) else { return name }
        return String(name[..<dash])
    }

    /// Starts a cluster, runs `body` against it and shuts it down; on failure prints the tail of
    /// every process's log, which is what one needs to see in CI.
    static func with(
        environment: [String: String] = [:], database: Database = .sqlite, replicas: Int = 1,
        _ body: (CinemaCluster) async throws -> Void
    ) async throws {
        let cluster = try await start(environment: environment, database: database, replicas: replicas)
        do {
            try await body(cluster)
        } catch {
            print(cluster.diagnostics())
            await cluster.shutdown()
            throw error
        }
        await cluster.shutdown()
        // Kept on failure (the diagnostics name the folder), and with CINEMA_KEEP_CLUSTER=1 for a
        // look at a run whose expectations failed.
        if ProcessInfo.processInfo.environment["CINEMA_KEEP_CLUSTER"] == nil {
            try? FileManager.default.removeItem(at: cluster.directory)
        }
    }

    static func start(
        environment: [String: String] = [:], database: Database = .sqlite, replicas: Int = 1
    ) async throws
        -> CinemaCluster
    {
        stopOrphansOfDeadTestRuns()
        let cluster = try CinemaCluster(database: database, replicas: replicas)
        cluster.extraEnvironment = environment
        do {
            try await cluster.createDatabases()
            try await cluster.startBroker()
            for name in cluster.instanceNames { try cluster.launch(name) }
            try cluster.launch("gateway")
            for name in cluster.instanceNames + ["gateway"] { try await cluster.waitUntilReady(name) }
        } catch {
            print(cluster.diagnostics())
            await cluster.shutdown()
            throw error
        }
        return cluster
    }

    /// Kills the broker outright (kill -9), as in a crash or a network cut.
    func crashBroker() {
        broker?.killHard()
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the broker.
    func freezeBroker(_ frozen: Bool) {
        broker?.freeze(frozen)
    }

    /// Starts the broker again on the same port. Tansu keeps everything in memory, so it comes
    /// back empty: the topic is created again; the services carry on by themselves (README,
    /// "Kafka on this machine").
    func startBroker() async throws {
        let url = "tcp://127.0.0.1:\(brokerPort)"
        broker = try ManagedProcess(
            name: "tansu", executable: Self.tansu,
            arguments: ["broker", "--listener-url", url, "--advertised-listener-url", url],
            environment: Self.baseEnvironment, logURL: directory.appendingPathComponent("tansu.log")
        )
        // The event topic and its dead-letter topic, as scripts/broker.sh creates them.
        // An attempt that hangs (a broker still starting on a loaded machine) is killed and tried
        // again: a hung attempt once used up the whole deadline in a test run.
        for topic in ["cinema", "cinema.DLT"] {
            _ = try await eventually("broker accepts creating \(topic)", timeout: .seconds(60)) { () -> Bool? in
                let create = try ManagedProcess(
                    name: "topic", executable: Self.tansu,
                    arguments: ["topic", "create", topic, "--partitions", "3", "--broker", url],
                    environment: Self.baseEnvironment, logURL: self.directory.appendingPathComponent("topic-\(topic).log")
                )
                defer { create.killHard() }
                // A killed attempt may have created the topic before it hung.
                let status = try await create.exitStatus(within: .seconds(10))
                return status == 0 || create.log.contains("already exists") ? true : nil
            }
        }
    }

    /// The URL of the first process of `service`, or of all of them, comma-separated.
    func url(of service: String) -> String { "http://127.0.0.1:\(ports[service]!)" }
    func urls(of service: String) -> String {
        instanceNames.filter { Self.service(of: $0) == service }.map(url(of:)).joined(separator: ",")
    }

    func environment(for name: String) -> [String: String] {
        var environment = Self.baseEnvironment
        let service = Self.service(of: name)
        environment["PORT"] = String(ports[name]!)
        environment["HOST"] = "127.0.0.1"
        environment["KAFKA_BROKERS"] = brokerAddress
        environment["KAFKA_TOPIC"] = "cinema"
        switch database {
        case .sqlite: environment["DATABASE_PATH"] = directory.appendingPathComponent("\(name).sqlite").path
        case .postgres(let server): environment["DATABASE_URL"] = Self.replacingDatabase(in: server, with: "\(databasePrefix)_\(service)")
        }
        // Reservation calls the first payment and movie process; the gateway balances over all.
        environment["PAYMENT_URL"] = service == "gateway" ? urls(of: "payment") : url(of: "payment")
        environment["MOVIE_URL"] = service == "gateway" ? urls(of: "movie") : url(of: "movie")
        environment["RESERVATION_URL"] = urls(of: "reservation")
        environment["MESSAGE_URL"] = urls(of: "message")
        environment["VIEWPAGE_URL"] = urls(of: "viewpage")
        return environment.merging(extraEnvironment) { _, extra in extra }
    }

    /// One PostgreSQL database per service, created with psql.
    func createDatabases() async throws {
        guard case .postgres(let server) = database else { return }
        for service in Self.serviceNames {
            let psql = try ManagedProcess(
                name: "psql", executable: URL(fileURLWithPath: "/usr/bin/psql"),
                arguments: [server, "-qc", "CREATE DATABASE \(databasePrefix)_\(service)"],
                environment: Self.baseEnvironment, logURL: directory.appendingPathComponent("psql.log")
            )
            let status = try await psql.exitStatus(within: .seconds(20))
            guard status == 0 else { throw UnexpectedReply(reply: psql.logTail(), status: Int(status)) }
        }
    }

    static func replacingDatabase(in url: String, with database: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.path = "/" + database
        return components.string ?? url
    }

    func launch(_ name: String) throws {
        processes[name] = try ManagedProcess(
            name: name, executable: Self.binaryDirectory.appendingPathComponent(Self.service(of: name)),
            environment: environment(for: name), logURL: directory.appendingPathComponent("\(name).log")
        )
    }

    func waitUntilReady(_ name: String) async throws {
        let url = "http://127.0.0.1:\(ports[name]!)/ready"
        _ = try await eventually("\(name) ready", timeout: .seconds(40)) { () -> Bool? in
            guard self.processes[name]?.isRunning == true else {
                throw ProcessExited(name: name, log: self.processes[name]?.logTail() ?? "")
            }
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(2))
            guard response.status == .ok else { return nil }
            // The answer must come from this process, not from whatever else holds the port.
            let body = try await response.body.collect(upTo: 64 * 1024)
            let service = (try? JSONValue.parse(Array(body.readableBytesView)))?["service"]
            return service == .string(Self.service(of: name)) ? true : nil
        }
    }

    /// Stops one service (SIGTERM, graceful) for a fault drill.
    func stop(_ name: String) async {
        await processes[name]?.stop()
    }

    /// Kills one process outright (kill -9), as in a crash.
    func kill(_ name: String) {
        processes[name]?.killHard()
    }

    /// Starts a stopped service again on the same port and database.
    func restart(_ name: String) async throws {
        try launch(name)
        try await waitUntilReady(name)
    }

    func shutdown() async {
        for process in processes.values { await process.stop() }
        await broker?.stop()
    }

    func diagnostics() -> String {
        var text = "cluster files in \(directory.path)\n"
        for (name, process) in processes.sorted(by: { $0.key < $1.key }) {
            text += "--- \(name) (exit \(process.exitStatus.map(String.init) ?? "running")) ---\n\(process.logTail(lines: 15))\n"
        }
        return text
    }

    // MARK: - Talking to the system

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var json: JSONValue?
        var text: String
    }

    /// A request through the gateway; `body` is sent as given (like httpie, `key=value` pairs are strings).
    func request(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> Reply {
        try await Self.send(method, gatewayURL + path, body: body)
    }

    /// A request straight to one process, for what the gateway does not route (`/ready`).
    func direct(_ name: String, _ path: String) async throws -> Reply {
        try await Self.send(.GET, "http://127.0.0.1:\(ports[name]!)\(path)", body: nil)
    }

    /// A request through the gateway with raw body bytes and headers of the caller's choosing.
    func raw(_ method: HTTPMethod, _ path: String, body: [UInt8]?, headers: [(String, String)]) async throws -> Reply {
        try await Self.send(method, gatewayURL + path, body: body, headers: headers)
    }

    static func send(_ method: HTTPMethod, _ url: String, body: String?) async throws -> Reply {
        try await send(method, url, body: body.map { Array($0.utf8) }, headers: body == nil ? [] : [("Content-Type", "application/json")])
    }

    static func send(_ method: HTTPMethod, _ url: String, body: [UInt8]?, headers: [(String, String)]) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
        let bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
        let data = Array(bytes.readableBytesView)
        return Reply(
            status: Int(response.status.code), headers: response.headers,
            json: try? JSONValue.parse(data), text: String(decoding: data, as: UTF8.self)
        )
    }

    /// The items of a collection resource, read through the gateway.
    func items(_ collection: String) async throws -> [JSONValue] {
        let reply = try await request(.GET, "/\(collection)?size=2000")
        guard reply.status == 200, case .array(let items)? = reply.json?["_embedded"]?[collection] else {
            throw UnexpectedReply(reply: reply.text, status: reply.status)
        }
        return items
    }

    /// Writes raw values to topic `cinema` with kcat, keyed like the services key their events,
    /// each with the given headers (`name=value`).
    func produce(_ values: [String], key: String, headers: [String] = []) async throws {
        let input = directory.appendingPathComponent("produce-\(UUID().uuidString.prefix(6)).txt")
        try values.map { "\(key)\t\($0)" }.joined(separator: "\n").appending("\n").write(to: input, atomically: true, encoding: .utf8)
        let kcat = try ManagedProcess(
            name: "kcat-produce", executable: Self.kcat,
            arguments: ["-P", "-b", brokerAddress, "-t", "cinema", "-K", "\t"] + headers.flatMap { ["-H", $0] } + ["-l", input.path],
            environment: Self.baseEnvironment, logURL: directory.appendingPathComponent("kcat-produce.log")
        )
        let status = try await kcat.exitStatus(within: .seconds(20))
        guard status == 0 else { throw ProcessExited(name: "kcat -P", log: kcat.logTail()) }
    }

    /// Every event on topic `cinema`, per partition in offset order, read with kcat.
    func events() async throws -> [(partition: Int, offset: Int, json: String)] {
        try await records(of: "cinema", format: "%p\t%o\t%s\n")
    }

    /// Every event with the headers kcat prints (`key=value` joined with `,`).
    func eventsWithHeaders() async throws -> [(value: String, headers: String)] {
        try await records(of: "cinema", format: "%p\t%o\t%s\t%h\n").map { record in
            let parts = record.json.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }

    /// Every dead letter: the value and the headers kcat prints (`key=value` joined with `,`).
    func deadLetters() async throws -> [(value: String, headers: String)] {
        try await records(of: "cinema.DLT", format: "%p\t%o\t%s\t%h\n").map { record in
            let parts = record.json.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }

    private func records(of topic: String, format: String) async throws -> [(partition: Int, offset: Int, json: String)] {
        let output = directory.appendingPathComponent("\(topic)-\(UUID().uuidString.prefix(6)).txt")
        let kcat = try ManagedProcess(
            name: "kcat", executable: Self.kcat,
            arguments: ["-C", "-b", brokerAddress, "-t", topic, "-o", "beginning", "-e", "-q", "-f", format],
            environment: Self.baseEnvironment, logURL: output
        )
        // -e: kcat exits once it has reached the end of every partition.
        _ = try? await kcat.exitStatus(within: .seconds(20))
        kcat.killHard()
        let text = try String(contentsOf: output, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t", maxSplits: 2)
            guard parts.count == 3, let partition = Int(parts[0]), let offset = Int(parts[1]) else { return nil }
            return (partition, offset, String(parts[2]))
        }.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
    }
}

struct ProcessExited: Error, CustomStringConvertible {
    var name: String
    var log: String
    var description: String { "\(name) exited:\n\(log)" }
}

struct UnexpectedReply: Error, CustomStringConvertible {
    var reply: String
    var status: Int
    var description: String { "unexpected reply \(status): \(reply)" }
}
