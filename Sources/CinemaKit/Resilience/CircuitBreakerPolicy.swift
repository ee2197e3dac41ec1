public import Logging

/// When a circuit breaker opens, how long it stays open, and how it tries again (the Resilience4j
/// model, count-based window).
public struct CircuitBreakerPolicy: Sendable, Equatable {
    /// How many of the latest call outcomes the closed breaker judges.
    public var windowSize: Int
    /// Rates are judged only once this many calls are in the window (at most `windowSize`): three
    /// failures of the first four calls after a start are no reason to open.
    public var minimumCalls: Int
    /// The breaker opens when at least this percentage of the judged calls failed ...
    public var failureRatePercent: Int
    /// ... or when at least this percentage of them took `slowCallDuration` or longer (failed or not).
    public var slowCallRatePercent: Int
    public var slowCallDuration: Duration
    /// How long an open breaker rejects every call before it lets trial calls through.
    public var openDuration: Duration
    /// How many trial calls a half-open breaker lets through; their rates decide: over a threshold,
    /// open again; otherwise closed.
    public var halfOpenCalls: Int

    /// Values below their minimum are raised to it (a window of 0 calls cannot judge anything).
    public init(
        windowSize: Int = 20, minimumCalls: Int = 10, failureRatePercent: Int = 50, slowCallRatePercent: Int = 80,
        slowCallDuration: Duration = .seconds(2), openDuration: Duration = .seconds(10), halfOpenCalls: Int = 3
    ) {
        self.windowSize = max(1, windowSize)
        self.minimumCalls = max(1, minimumCalls)
        self.failureRatePercent = min(max(1, failureRatePercent), 100)
        self.slowCallRatePercent = min(max(1, slowCallRatePercent), 100)
        self.slowCallDuration = max(.milliseconds(1), slowCallDuration)
        self.openDuration = max(.milliseconds(1), openDuration)
        self.halfOpenCalls = max(1, halfOpenCalls)
    }

    /// How many calls must be in the window before it is judged: a window smaller than the minimum
    /// would otherwise never be.
    var callsBeforeJudging: Int { min(minimumCalls, windowSize) }

    /// The policy named by `<prefix>WINDOW_SIZE`, `<prefix>MINIMUM_CALLS`,
    /// `<prefix>FAILURE_RATE_PERCENT`, `<prefix>SLOW_CALL_RATE_PERCENT`, `<prefix>SLOW_CALL_MS`,
    /// `<prefix>OPEN_SECONDS` and `<prefix>HALF_OPEN_CALLS` (e.g. `PAYMENT_BREAKER_`); an absent or
    /// unusable value keeps the default (`defaults`), the unusable one with a warning.
    public static func fromEnvironment(
        _ environment: [String: String], prefix: String, defaults: CircuitBreakerPolicy = CircuitBreakerPolicy(), logger: Logger
    ) -> CircuitBreakerPolicy {
        func integer(_ suffix: String, _ range: ClosedRange<Int>, _ defaultValue: Int) -> Int {
            EnvironmentSetting.integer(prefix + suffix, in: environment, range: range, default: defaultValue, logger: logger)
        }
        return CircuitBreakerPolicy(
            windowSize: integer("WINDOW_SIZE", 1...10_000, defaults.windowSize),
            minimumCalls: integer("MINIMUM_CALLS", 1...10_000, defaults.minimumCalls),
            failureRatePercent: integer("FAILURE_RATE_PERCENT", 1...100, defaults.failureRatePercent),
            slowCallRatePercent: integer("SLOW_CALL_RATE_PERCENT", 1...100, defaults.slowCallRatePercent),
            slowCallDuration: .milliseconds(integer("SLOW_CALL_MS", 1...3_600_000, Int(defaults.slowCallDuration.milliseconds))),
            openDuration: .seconds(integer("OPEN_SECONDS", 1...86_400, Int(defaults.openDuration.milliseconds / 1000))),
            halfOpenCalls: integer("HALF_OPEN_CALLS", 1...1000, defaults.halfOpenCalls)
        )
    }
}
