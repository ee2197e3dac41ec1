import Dispatch

extension DispatchQueue {
    /// Runs `body` on this queue and suspends the caller until it has finished, so blocking
    /// librdkafka calls tie up a dispatch thread instead of one of Swift's few cooperative ones.
    func perform<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            self.async { continuation.resume(returning: body()) }
        }
    }
}
