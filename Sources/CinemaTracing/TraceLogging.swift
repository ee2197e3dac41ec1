public import Instrumentation
public import Logging

/// Tracing as every process sets it up: the W3C tracer behind `InstrumentationSystem`, and the trace id in every log
/// line.
public enum TraceLogging {
    /// Adds `trace.id` and `span.id` of the current `ServiceContext` to every line a logger writes, whichever logger
    /// it is: request handlers, event handlers and the relay all log inside the context of the work they do.
    public static let metadataProvider = Logger.MetadataProvider {
        guard let parent = ServiceContext.current?.traceParent else { return [:] }
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
        context.traceParent = parent
        return try await ServiceContext.withValue(context, isolation: isolation) { try await body() }
    }
}
