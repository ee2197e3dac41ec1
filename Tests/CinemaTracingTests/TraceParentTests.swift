import CinemaTracing
import Instrumentation
import Logging
import Testing
import Tracing

@Suite struct TraceParentTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func readsAValidHeaderAndWritesItBack() throws {
        let parent = try #require(TraceParent(header: Self.valid))
        #expect(parent.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(parent.spanID == "00f067aa0ba902b7")
        #expect(parent.sampled)
        #expect(parent.header == Self.valid)
    }

    @Test func keepsTheFlagsItWasGiven() throws {
        let parent = try #require(TraceParent(header: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"))
        #expect(!parent.sampled)
        #expect(parent.child().header.hasSuffix("-00"))
    }

    /// A later version may add fields after a dash; they are ignored and the value is written back as version 00.
    @Test func acceptsAFutureVersionWithMoreFields() throws {
        let parent = try #require(TraceParent(header: "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds"))
        #expect(parent.header == Self.valid)
    }

    @Test(arguments: [
        "",
        "00",
        "garbage",
        // Upper-case hex, all-zero ids, version ff, a wrong separator, one digit short, one too many for version 00.
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        // Two headers joined as HTTP joins repeated fields, spaces, control bytes, a log-injection attempt, non-ASCII.
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01, 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\ntrace.id=evil",
        "00-4bf92f3577b34da6a3ce929d0e0é4736-00f067aa0ba902b7-01",
        String(repeating: "0", count: 10_000),
    ])
    func refusesAnythingElse(_ header: String) {
        #expect(TraceParent(header: header) == nil)
    }

    @Test func newTracesAndChildrenHaveFreshValidIDs() throws {
        let root = TraceParent.newTrace()
        #expect(TraceParent(header: root.header) == root)
        let child = root.child()
        #expect(child.traceID == root.traceID)
        #expect(child.spanID != root.spanID)
        #expect(TraceParent(header: child.header) == child)
        #expect(TraceParent.newTrace().traceID != root.traceID)
    }

    @Test func tracerContinuesAnExtractedParentAndInjectsTheChild() throws {
        let tracer = W3CTracer()
        var context = ServiceContext.topLevel
        tracer.extract(["traceparent": Self.valid], into: &context, using: HeaderDictionaryExtractor())
        let span = tracer.startSpan(
            "work", context: context, ofKind: .server, at: DefaultTracerClock.now, function: #function, file: #fileID, line: #line)
        let spanParent = try #require(span.context.traceParent)
        #expect(spanParent.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(spanParent.spanID != "00f067aa0ba902b7")
        var carrier: [String: String] = [:]
        tracer.inject(span.context, into: &carrier, using: HeaderDictionaryInjector())
        #expect(carrier["traceparent"] == spanParent.header)
    }

    @Test func tracerStartsANewTraceForAnInvalidParent() throws {
        let tracer = W3CTracer()
        var context = ServiceContext.topLevel
        tracer.extract(["traceparent": "00-zz"], into: &context, using: HeaderDictionaryExtractor())
        #expect(context.traceParent == nil)
        let span = tracer.startSpan(
            "work", context: context, ofKind: .server, at: DefaultTracerClock.now, function: #function, file: #fileID, line: #line)
        #expect(span.context.traceParent != nil)
    }

    @Test func logLinesCarryTheTraceOfTheCurrentContext() async throws {
        TraceLogging.bootstrapInstrumentation()
        let parent = try #require(TraceParent(header: Self.valid))
        #expect(TraceLogging.metadataProvider.get().isEmpty)
        let metadata = await TraceLogging.withTraceParent(parent) { TraceLogging.metadataProvider.get() }
        #expect(metadata["trace.id"] == .string(parent.traceID))
        #expect(metadata["span.id"] == .string(parent.spanID))
    }
}
