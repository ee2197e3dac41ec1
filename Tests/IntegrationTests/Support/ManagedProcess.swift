import CinemaPolling
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process with its output in a log file, stopped politely (SIGTERM) or not (SIGKILL).
final class ManagedProcess {
    let name: String
    let logURL: URL
    private let process = Process()

    init(name: String, executable: URL, arguments: [String] = [], environment: [String: String], logURL: URL) throws {
        self.name = name
        self.logURL = logURL
        // Appended to, so a restarted process keeps its predecessor's log beside its own.
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    /// SIGTERM, then wait (polling) for the exit; SIGKILL if it does not come in time.
    func stop(timeout: Duration = .seconds(15)) async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if (try? await exitStatus(within: timeout)) == nil { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// The exit status once the process has ended; throws when it is still running at the deadline.
    func exitStatus(within timeout: Duration) async throws -> Int32 {
        try await eventually("\(name) to exit", timeout: timeout, interval: .milliseconds(20)) { exitStatus }
    }

    func killHard() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`): a process that hangs without exiting, its sockets
    /// open and silent, as in a long GC pause or a VM freeze.
    func freeze(_ frozen: Bool) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, frozen ? SIGSTOP : SIGCONT)
    }

    var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    var log: String {
        (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
    }

    func logTail(lines: Int = 40) -> String {
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

/// A TCP port nobody listens on right now (the kernel's choice for port 0).
/// Ports handed out in this test process: the suites run side by side, each with its own
/// cluster, and must never be given the same port.
private let handedOutPorts = Mutex(Set<Int>())

/// A loopback port nobody listens on, unique within this test process. Chosen below the kernel's
/// ephemeral range (32768 and up), so that the clients' outgoing connections cannot take it
/// between now and the moment the child process binds it.
func freePort() -> Int {
    while true {
        let candidate = Int.random(in: 20_000..<32_000)
        let isNew = handedOutPorts.withLock { $0.insert(candidate).inserted }
        if isNew, canBind(candidate) { return candidate }
    }
}

private func canBind(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
            bind(fd, socketAddress, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}
