/// A W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/): which trace a piece of work belongs to
/// and which span caused it. It travels in the `traceparent` HTTP header and Kafka header, and in outbox rows.
///
/// Parsing is strict, since the value comes from clients and lands in every log line: only lowercase hex in the
/// exact layout, no all-zero ids. Anything else is no trace context at all, and the caller starts a new trace.
public struct TraceParent: Sendable, Hashable, CustomStringConvertible {
    /// 32 lowercase hex digits, never all zeros.
    public let traceID: String
    /// 16 lowercase hex digits, never all zeros: the span that is the parent of whatever continues this context.
    public let spanID: String
    /// The trace-flags byte; bit 0 is `sampled`.
    public let flags: UInt8

    public static let headerName = "traceparent"

    public var sampled: Bool { flags & 0x01 != 0 }

    /// The header value, always version `00`.
    public var header: String {
        "00-\(traceID)-\(spanID)-\(Self.hex(flags))"
    }

    public var description: String { header }

    /// Reads a header value. Version `00` must be exactly 55 characters; a later version may append fields after a
    /// `-`, which are ignored (the specification's forward compatibility); version `ff` is invalid.
    public init?(header: String) {
        let bytes = Array(header.utf8)
        guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"),
            bytes[52] == UInt8(ascii: "-")
        else { return nil }
        guard let version = Self.byte(bytes[0], bytes[1]), version != 0xFF else { return nil }
        if version == 0 {
            guard bytes.count == 55 else { return nil }
        } else if bytes.count > 55, bytes[55] != UInt8(ascii: "-") {
            return nil
        }
        let traceID = bytes[3..<35]
        let spanID = bytes[36..<52]
        guard traceID.allSatisfy(Self.isLowerHex), spanID.allSatisfy(Self.isLowerHex),
            traceID.contains(where: { $0 != UInt8(ascii: "0") }), spanID.contains(where: { $0 != UInt8(ascii: "0") }),
            let flags = Self.byte(bytes[53], bytes[54])
        else { return nil }
        self.traceID = String(decoding: traceID, as: UTF8.self)
        self.spanID = String(decoding: spanID, as: UTF8.self)
        self.flags = flags
    }

    /// The root of a new trace: fresh trace and span ids, sampled.
    public static func newTrace() -> TraceParent {
        TraceParent(traceID: randomHex(byteCount: 16), spanID: randomHex(byteCount: 8), flags: 0x01)
    }

    /// A new span in the same trace whose parent is this one.
    public func child() -> TraceParent {
        TraceParent(traceID: traceID, spanID: Self.randomHex(byteCount: 8), flags: flags)
    }

    private init(traceID: String, spanID: String, flags: UInt8) {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    private static func byte(_ high: UInt8, _ low: UInt8) -> UInt8? {
        guard let high = nibble(high), let low = nibble(low) else { return nil }
        return high << 4 | low
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
    }

    /// Random ids that are never all zeros (the specification makes those invalid).
    private static func randomHex(byteCount: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            let bytes = (0..<byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            if bytes.contains(where: { $0 != 0 }) { return bytes.map(hex).joined() }
        }
    }
}
