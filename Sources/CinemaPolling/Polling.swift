/// Waiting in tests and drills: a condition is polled until it holds or a deadline passes, never
/// slept on for a guessed time. One implementation for every test target, so a fix or a better
/// failure message reaches them all.
///
/// An error thrown by the probe counts as "not yet" (a process still starting refuses
/// connections); if the deadline passes, the last one is named in the failure.

/// The deadline of a wait passed; `description` names what was awaited and the last error seen.
public struct TimedOut: Error, CustomStringConvertible {
    public let description: String

    public init(waitingFor what: String, lastError: (any Error)? = nil) {
        self.description = "timed out waiting for: \(what)" + (lastError.map { " (last error: \($0))" } ?? "")
    }
}

/// Polls `probe` every `interval` until it returns a value, and returns it; throws `TimedOut`
/// after `timeout`.
public func eventually<T>(
    _ description: String,
    timeout: Duration = .seconds(30),
    interval: Duration = .milliseconds(50),
    _ probe: () async throws -> T?
) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    var lastError: (any Error)?
    while true {
        do {
            if let value = try await probe() { return value }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            lastError = error
        }
        guard ContinuousClock.now < deadline else { throw TimedOut(waitingFor: description, lastError: lastError) }
        try await Task.sleep(for: interval)
    }
}

/// Polls `condition` every `interval` until it holds; throws `TimedOut` after `timeout`. A
/// separate name from `eventually`: a Bool probe there would return at once with `false`.
public func waitUntil(
    _ description: String,
    timeout: Duration = .seconds(10),
    interval: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async throws {
    _ = try await eventually(description, timeout: timeout, interval: interval) { try await condition() ? true : nil }
}
