import CinemaPolling
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A Tansu broker (in memory) run by a test as its own child process, on a port of its own.
/// Stopped with SIGKILL at the latest when the object goes away, so that a failing test leaves
/// no broker behind.
final class TansuBroker {
    let binary: String
    let port: Int
    private var process: Process?

    /// `TANSU_BIN`, which the Makefile's test recipe sets; nil when the tests run without it.
    static var binaryFromEnvironment: String? {
        ProcessInfo.processInfo.environment["TANSU_BIN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    init(binary: String, port: Int) {
        self.binary = binary
        self.port = port
    }

    deinit {
        kill()
    }

    var bootstrapServers: String { "127.0.0.1:\(port)" }
    private var url: String { "tcp://127.0.0.1:\(port)" }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/",
        ]
        // Tansu also reads settings from the environment (schema registry, OTLP endpoint): not ours.
        var environment = ProcessInfo.processInfo.environment
        environment["SCHEMA_REGISTRY"] = nil
        environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = nil
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    /// SIGKILL, as a crash would: no chance to close connections or save anything.
    func kill() {
        guard let process else { return }
        self.process = nil
        if process.isRunning {
            _ = Glibc.kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }

    /// Creates the topic, retrying while the broker is still starting. A client asking for the
    /// topic's metadata first makes Tansu create it on its own (with its default partition count):
    /// then it exists, which is all the caller needs.
    func createTopic(_ name: String, partitions: Int, timeout seconds: Double = 15) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            if try run(["topic", "create", name, "--partitions", "\(partitions)", "--broker", url]) == 0 { return }
            if try run(["topic", "list", "--broker", url], outputContains: "\"\(name)\"") { return }
            guard ContinuousClock.now < deadline else { throw TimedOut(waitingFor: "creating topic \(name) on \(url)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Runs the Tansu CLI; returns its exit status.
    private func run(_ arguments: [String]) throws -> Int32 {
        let cli = Process()
        cli.executableURL = URL(fileURLWithPath: binary)
        cli.arguments = arguments
        cli.standardOutput = FileHandle.nullDevice
        cli.standardError = FileHandle.nullDevice
        try cli.run()
        cli.waitUntilExit()
        return cli.terminationStatus
    }

    private func run(_ arguments: [String], outputContains text: String) throws -> Bool {
        let cli = Process()
        cli.executableURL = URL(fileURLWithPath: binary)
        cli.arguments = arguments
        let output = Pipe()
        cli.standardOutput = output
        cli.standardError = FileHandle.nullDevice
        try cli.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        cli.waitUntilExit()
        return cli.terminationStatus == 0 && String(decoding: data, as: UTF8.self).contains(text)
    }

    /// A port nobody listens on right now: bind to port 0 and let the kernel pick one.
    static func freePort() throws -> Int {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(socketDescriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(socketDescriptor, socketAddress, length) == 0 && getsockname(socketDescriptor, socketAddress, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
