public import Instrumentation
import Synchronization
public import Tracing

/// The key under which a `ServiceContext` carries the current span's trace context.
private enum TraceParentKey: ServiceContextKey {
    typealias Value = TraceParent
    static let nameOverride: String? = "traceparent"
}

extension ServiceContext {
    /// The span context as ``W3CTracer`` keeps it. Other code asks ``TraceParent/current``, which works with whatever
    /// tracer the process bootstrapped.
    public var traceParent: TraceParent? {
        get { self[TraceParentKey.self] }
        set { self[TraceParentKey.self] = newValue }
    }
}

/// A swift-distributed-tracing tracer that propagates W3C trace context and keeps nothing: each span gets a new span id
/// in its parent's trace (or a new trace), the `ServiceContext` carries it, and `traceparent` headers are read and
/// written from it. Span data is not exported (no OTLP collector is configured by default); what the spans are for
/// here is that one reservation's saga has one trace id in every process's logs and every event's headers.
public struct W3CTracer: Tracer {
    public init() {}

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> PropagatedSpan {
        var context = context()
        context.traceParent = context.traceParent?.child() ?? .newTrace()
        return PropagatedSpan(context: context, operationName: operationName)
    }

    public func forceFlush() {}

    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        // An invalid value (or several headers joined into one) is ignored: the span started next begins a new trace.
        if let value = extractor.extract(key: TraceParent.headerName, from: carrier), let parent = TraceParent(header: value) {
            context.traceParent = parent
        }
    }

    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject.Carrier == Carrier {
        if let parent = context.traceParent {
            injector.inject(parent.header, forKey: TraceParent.headerName, into: &carrier)
        }
    }
}

/// A span that only carries its context and name; its attributes, events and status are not kept, as nothing
/// exports them.
public final class PropagatedSpan: Span {
    public let context: ServiceContext
    private let name: Mutex<String>

    init(context: ServiceContext, operationName: String) {
        self.context = context
        self.name = Mutex(operationName)
    }

    public var operationName: String {
        get { name.withLock { $0 } }
        set { name.withLock { $0 = newValue } }
    }

    public var isRecording: Bool { false }

    public var attributes: SpanAttributes {
        get { [:] }
        set {}
    }

    public func setStatus(_ status: SpanStatus) {}
    public func addEvent(_ event: SpanEvent) {}
    public func addLink(_ link: SpanLink) {}
    public func recordError<Instant: TracerInstant>(
        _ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant
    ) {}
    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {}
}
