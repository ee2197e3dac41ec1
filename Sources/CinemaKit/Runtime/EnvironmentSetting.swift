public import Logging

/// Service-specific settings read from the environment (the same names locally and in a
/// Kubernetes ConfigMap). A tuning value that cannot be used keeps its default and says so in a
/// warning: a typo in a manifest should degrade to a working default, not to a crash loop, and
/// not silently either.
public enum EnvironmentSetting {
    /// The whole number `name` holds, if it is one in `range`; `defaultValue` when it is absent,
    /// and also when it is unusable, with a warning naming the variable, its value and the range.
    public static func integer(
        _ name: String, in environment: [String: String], range: ClosedRange<Int>, default defaultValue: Int, logger: Logger
    ) -> Int {
        guard let text = environment[name] else { return defaultValue }
        if let value = Int(text), range.contains(value) { return value }
        logger.warning(
            "unusable setting; the default applies",
            metadata: [
                "setting.name": "\(name)", "setting.value": "\(text)",
                "setting.range": "\(range.lowerBound)...\(range.upperBound)", "setting.default": "\(defaultValue)",
            ]
        )
        return defaultValue
    }
}
