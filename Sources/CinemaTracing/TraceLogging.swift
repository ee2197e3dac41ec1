public import Instrumentation
public import Logging

/// Tracing as every process sets it up: the W3C tracer behind `InstrumentationSystem`, and the trace id in every log
/// line.
public enum TraceLogging {
    /// Adds `trace.id` and `span.id` of the current `ServiceContext` to every line a logger writes, whichever logger
    /// it is: request handlers, event handlers and the relay all log inside the context of the work they do.
    public static let metadataProvider = Logger.MetadataProvider {
        guard let parent = TraceParent.current else { return [:] }
        return ["trace.id": .string(parent.traceID), "span.id": .string(parent.spanID)]
    }

    /// Puts the W3C tracer behind `InstrumentationSystem`; the first call does it, later ones (tests) do nothing.
    public static func bootstrapInstrumentation() {
        _ = instrumentationBootstrapped
    }

    private static let instrumentationBootstrapped: Void = InstrumentationSystem.bootstrap(W3CTracer())

    /// Runs `body` in a context whose trace is `parent` (when there is one), without starting a span: for work done on
    /// behalf of a recorded context, such as publishing an outbox row.
    public static func withTraceParent<Result>(
        _ parent: TraceParent?, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Result
    ) async rethrows -> Result {
        guard let parent else { return try await body() }
        var context = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(
            [TraceParent.headerName: parent.header], into: &context, using: HeaderDictionaryExtractor())
        return try await ServiceContext.withValue(context, isolation: isolation) { try await body() }
    }
}

extension TraceParent {
    /// The trace context of the work the calling task does, as the bootstrapped instrument sends it: whichever W3C
    /// tracer the process runs (``W3CTracer``, or an exporting one), outbox rows and log lines read it the same way.
    public static var current: TraceParent? {
        guard let context = ServiceContext.current else { return nil }
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: HeaderDictionaryInjector())
        return headers[headerName].flatMap(TraceParent.init(header:))
    }
}

/// Reads trace context from headers kept as a dictionary (a consumed Kafka message's).
public struct HeaderDictionaryExtractor: Extractor {
    public init() {}

    public func extract(key: String, from headers: [String: String]) -> String? {
        headers[key]
    }
}

/// Writes trace context into headers kept as a dictionary.
public struct HeaderDictionaryInjector: Injector {
    public init() {}

    public func inject(_ value: String, forKey key: String, into headers: inout [String: String]) {
        headers[key] = value
    }
}
