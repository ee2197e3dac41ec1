import CinemaHTTP
import HTTPTypes
import Hummingbird
// Part of the Hummingbird package (the product's own foundation); the server builder and HTTP/1 channel live here.
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

extension HTTPServerBuilder {
    /// Hummingbird's HTTP/1.1 server with the gateway's limits: request heads up to `maxHeaderSize`, idle connections
    /// closed after `idleTimeout`, and requests the HTTP parser rejects answered with the JSON error shape.
    static func gateway(_ configuration: GatewayConfiguration) -> HTTPServerBuilder {
        let limits = HTTP1Channel.Configuration.DecoderConfiguration(
            maxHeaderFieldSize: configuration.maxHeaderSize,
            maxHeaderListSize: configuration.maxHeaderSize,
            maxHeaderFieldCount: GatewayHTTP1Channel.maxHeaderFieldCount
        )
        let channelConfiguration = HTTP1Channel.Configuration(
            idleTimeout: TimeAmount(configuration.idleTimeout),
            httpDecoderConfiguration: limits
        )
        return HTTPServerBuilder { responder in
            GatewayHTTP1Channel(
                base: HTTP1Channel(responder: responder, configuration: channelConfiguration),
                maxHeaderSize: configuration.maxHeaderSize
            )
        }
    }
}

/// Hummingbird's HTTP/1.1 channel plus ``MalformedRequestHandler`` right behind NIO's request decoder, and
/// ``ClientInputWatch`` in front of everything.
struct GatewayHTTP1Channel: ServerChildChannel {
    /// The services accept 1000 fields; the gateway adds a few of its own, so it takes well under that.
    static let maxHeaderFieldCount = 500

    let base: HTTP1Channel
    let maxHeaderSize: Int

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        let maxHeaderSize = self.maxHeaderSize
        return self.base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            // First, so that it sees the end of the client's input before anything else can hold it up.
            try pipeline.addHandler(ClientInputWatch(), position: .first)
            // Should Hummingbird ever build its pipeline differently, parse errors merely lose their JSON body.
            guard let decoder = try? pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) else {
                logger.debug("No HTTP request decoder in the pipeline; parse errors keep Hummingbird's empty answer")
                return value
            }
            try pipeline.addHandler(MalformedRequestHandler(maxHeaderSize: maxHeaderSize), position: .after(decoder))
            return value
        }
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await self.base.handle(value: value, logger: logger)
    }
}

/// When NIO's parser rejects a request, Hummingbird answers `400` with no body (`Content-Length: 0`,
/// `Connection: close`) and closes the connection. This handler sees the parser's error on its way in and that answer
/// on its way out, and gives the answer the JSON error body every other error has, naming the problem (431 for a head
/// over the size limit). It also closes the connection after answering a CONNECT: NIO sends such answers without body
/// or length, so only the close tells the client where they end. Every other response passes untouched.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let maxHeaderSize: Int
    private var parseError: HTTPParserError?
    /// The path of the request being read, when the error came after its head (in a chunked body, say).
    private var currentPath: String?
    private var pendingBody: ByteBuffer?
    private var closeAfterResponse = false

    init(maxHeaderSize: Int) {
        self.maxHeaderSize = maxHeaderSize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.currentPath = String(head.uri.prefix { $0 != "?" })
            self.closeAfterResponse = self.closeAfterResponse || head.method == .CONNECT
        case .end:
            // Junk after a complete request belongs to no path.
            self.currentPath = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.parseError == nil, let error = error as? HTTPParserError {
            self.parseError = error
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .head(var head) where self.isHummingbirdParseErrorAnswer(head):
            guard let parseError = self.parseError else {
                context.write(data, promise: promise)
                return
            }
            let error = Self.apiError(for: parseError, maxHeaderSize: self.maxHeaderSize)
            let body = ByteBuffer(bytes: error.bodyBytes(path: self.currentPath))
            head.status = HTTPResponseStatus(statusCode: error.status.code, reasonPhrase: error.status.reasonPhrase)
            head.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
            head.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
            self.pendingBody = body
            context.write(self.wrapOutboundOut(.head(head)), promise: promise)
        case .end(let trailers):
            if let body = self.pendingBody {
                self.pendingBody = nil
                context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            }
            if self.closeAfterResponse {
                context.writeAndFlush(self.wrapOutboundOut(.end(trailers)), promise: promise)
                context.close(promise: nil)
            } else {
                context.write(self.wrapOutboundOut(.end(trailers)), promise: promise)
            }
        default:
            context.write(data, promise: promise)
        }
    }

    /// Exactly the head Hummingbird writes after a parse error; the gateway's own and proxied answers always carry
    /// more fields (a correlation id at least) and never `Connection: close` from an upstream.
    private func isHummingbirdParseErrorAnswer(_ head: HTTPResponseHead) -> Bool {
        head.status == .badRequest && head.headers.count == 2 && head.headers["connection"] == ["close"]
            && head.headers["content-length"] == ["0"]
    }

    /// The answer for a parse error; `maxHeaderSize` is named in the message when known.
    static func apiError(for error: HTTPParserError, maxHeaderSize: Int?) -> APIError {
        switch error {
        case .headerOverflow:
            let limit = maxHeaderSize.map { "\($0) bytes or " } ?? ""
            return APIError(
                .requestHeaderFieldsTooLarge,
                "the request line and headers exceed the gateway's limit of \(limit)\(GatewayHTTP1Channel.maxHeaderFieldCount) fields"
            )
        case .invalidMethod:
            return .badRequest("malformed request line: unknown method (methods are case-sensitive, e.g. GET)")
        case .invalidURL:
            return .badRequest("malformed request line: invalid request target")
        case .invalidVersion, .paused:
            // `paused` is llhttp stopping at an HTTP/2 connection preface.
            return .badRequest("unsupported HTTP version: the gateway speaks HTTP/1.0 and HTTP/1.1")
        case .invalidHeaderToken, .invalidCharactersUsed:
            return .badRequest("malformed header field")
        case .invalidContentLength:
            return .badRequest("invalid Content-Length: not a number, or sent together with Transfer-Encoding")
        case .unexpectedContentLength:
            return .badRequest("Content-Length is repeated or sent together with Transfer-Encoding")
        case .invalidChunkSize:
            return .badRequest("malformed chunked body")
        case .invalidEOFState:
            return .badRequest("the connection ended in the middle of the request")
        case .unknown:
            // llhttp errors NIO has no case for, in practice an invalid Transfer-Encoding.
            return .badRequest("malformed HTTP request: invalid framing, such as a Transfer-Encoding that does not end in chunked")
        default:
            return .badRequest("malformed HTTP request: \(error.debugDescription)")
        }
    }
}
