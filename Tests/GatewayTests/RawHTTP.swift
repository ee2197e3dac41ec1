import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// One response as read off a raw connection.
struct RawResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var bodyText: String { String(decoding: self.body, as: UTF8.self) }
}

/// What a raw exchange produced.
struct RawExchange: Sendable {
    /// Every complete response received, in order.
    var responses: [RawResponse]
    /// The server closed (or reset) the connection before the read deadline.
    var closedByServer: Bool
    /// How long the exchange took from connecting to the end of reading.
    var elapsed: Duration
}

/// A one-way switch shared between tasks.
final class Flag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { self.value.load(ordering: .relaxed) }
    func set() { self.value.store(true, ordering: .relaxed) }
}

/// Sends bytes no HTTP client library would send, on a plain NIO connection, and reads what comes back, bounded in time.
enum RawHTTP {
    enum ReadUntil: Sendable {
        /// Stop once this many complete responses arrived (or the server closed, or the deadline passed).
        case responses(Int)
        /// Read until the server closes or the deadline passes.
        case close
    }

    static func exchange(
        port: Int,
        sending chunks: [[UInt8]],
        pausingBetweenChunks pause: Duration = .zero,
        halfCloseAfterSending: Bool = false,
        until readUntil: ReadUntil = .responses(1),
        deadline: Duration = .seconds(10)
    ) async throws -> RawExchange {
        let started = ContinuousClock.now
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        let timedOut = Flag()
        let underlying = channel.channel
        // Closing the channel at the deadline ends the read loop below, whatever the server does.
        let timer = Task {
            try await Task.sleep(for: deadline)
            timedOut.set()
            underlying.close(promise: nil)
        }
        defer { timer.cancel() }
        let (received, closedByServer) = try await channel.executeThenClose { inbound, outbound in
            // Writing fails once the server has answered and closed; what it answered is still read below.
            do {
                for (index, chunk) in chunks.enumerated() {
                    if index > 0, pause > .zero { try await Task.sleep(for: pause) }
                    try await outbound.write(ByteBuffer(bytes: chunk))
                }
                if halfCloseAfterSending { outbound.finish() }
            } catch {}
            var received: [UInt8] = []
            do {
                for try await buffer in inbound {
                    received += buffer.readableBytesView
                    if case .responses(let count) = readUntil, parse(received, connectionClosed: false).count >= count {
                        return (received, false)
                    }
                }
            } catch {
                // A reset is the server closing too.
            }
            return (received, !timedOut.isSet)
        }
        return RawExchange(
            responses: parse(received, connectionClosed: closedByServer),
            closedByServer: closedByServer,
            elapsed: ContinuousClock.now - started
        )
    }

    /// The complete responses in `bytes` (interim 1xx ones skipped). A body without length or chunking runs to the close.
    static func parse(_ bytes: [UInt8], connectionClosed: Bool) -> [RawResponse] {
        var responses: [RawResponse] = []
        var offset = 0
        while let headEnd = find([13, 10, 13, 10], in: bytes, from: offset) {
            let headLines = String(decoding: bytes[offset..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
            let statusParts = (headLines.first ?? "").split(separator: " ", maxSplits: 2)
            guard statusParts.count >= 2, let status = Int(statusParts[1]) else { break }
            let headers = headLines.dropFirst().compactMap { line -> (name: String, value: String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            var response = RawResponse(status: status, headers: headers, body: [])
            let bodyStart = headEnd + 4
            if let length = response.header("content-length").flatMap({ Int($0) }) {
                guard bytes.count - bodyStart >= length else { break }
                response.body = Array(bytes[bodyStart..<(bodyStart + length)])
                offset = bodyStart + length
            } else if response.header("transfer-encoding")?.lowercased().contains("chunked") == true {
                guard let (body, end) = dechunk(bytes, from: bodyStart) else { break }
                response.body = body
                offset = end
            } else if (100..<200).contains(status) || status == 204 || status == 304 {
                offset = bodyStart
            } else {
                guard connectionClosed else { break }
                response.body = Array(bytes[bodyStart...])
                offset = bytes.count
            }
            if !(100..<200).contains(status) { responses.append(response) }
        }
        return responses
    }

    private static func dechunk(_ bytes: [UInt8], from start: Int) -> (body: [UInt8], end: Int)? {
        var body: [UInt8] = []
        var offset = start
        while let lineEnd = find([13, 10], in: bytes, from: offset) {
            let sizeText = String(decoding: bytes[offset..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
            let dataStart = lineEnd + 2
            if size == 0 {
                // No trailers are expected from these servers: the empty line follows at once.
                return bytes.count >= dataStart + 2 ? (body, dataStart + 2) : nil
            }
            guard bytes.count >= dataStart + size + 2 else { return nil }
            body += bytes[dataStart..<(dataStart + size)]
            offset = dataStart + size + 2
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
        for index in start...(bytes.count - needle.count) where bytes[index..<(index + needle.count)].elementsEqual(needle) {
            return index
        }
        return nil
    }
}
