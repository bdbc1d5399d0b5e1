import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Synchronization

/// Per-connection limits below the router, one handler per connection:
/// - a cap on open connections, answered with a 503 problem (not a silent stall), so a thousand slow
///   clients cannot take every file descriptor of the process;
/// - a deadline for a request's head: a client that opens a connection and trickles a header (or sends
///   nothing) is cut off after `headerTimeout`;
/// - HTTP parse errors answered as problem+json (Hummingbird's own answer has an empty body).
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Open connections across the server, shared by every handler.
    final class Counter: Sendable {
        let limit: Int
        private let open = Atomic<Int>(0)
        init(limit: Int) { self.limit = limit }
        func enter() -> Bool { open.wrappingAdd(1, ordering: .relaxed).newValue <= limit }
        func leave() { open.wrappingSubtract(1, ordering: .relaxed) }
        var current: Int { open.load(ordering: .relaxed) }
    }

    private let counter: Counter
    private let headerTimeout: TimeAmount
    private var counted = false
    private var refused = false
    private var headDeadline: Scheduled<Void>?

    init(counter: Counter, headerTimeout: TimeAmount) {
        self.counter = counter
        self.headerTimeout = headerTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        counted = true
        // Over the limit, the connection is answered 503 as soon as its request head arrives (responses
        // can only follow a request on an HTTP/1.1 connection) and closed; the head deadline still applies.
        refused = !counter.enter()
        armHeadDeadline(context)
    }

    private func armHeadDeadline(_ context: ChannelHandlerContext) {
        headDeadline?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let timeout = headerTimeout
        headDeadline = context.eventLoop.scheduleTask(in: timeout) {
            // No complete request head within the deadline: a slow (or idle) client holds no slot for longer.
            loopBound.value.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused {
            if case .head = unwrapInboundIn(data) {
                headDeadline?.cancel()
                respond(
                    context,
                    Problem(
                        .serviceUnavailable, code: .tooManyConnections, title: "Too many connections",
                        detail: "the server has \(counter.limit) connections open "
                            + "(montecluster serve --max-connections); retry shortly",
                        headers: [.retryAfter: "1"]))
            }
            return
        }
        if case .head = unwrapInboundIn(data) {
            headDeadline?.cancel()
            headDeadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // After a response the connection may wait for the next request; Hummingbird's idle timeout and
        // this head deadline bound that wait.
        if case .end = unwrapOutboundIn(data) { armHeadDeadline(context) }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError {
            respond(
                context,
                Problem(
                    .badRequest, code: .malformedHttp, title: "Malformed HTTP request",
                    detail: "the request does not parse as HTTP/1.1: \(error)"))
            return
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    private func release() {
        headDeadline?.cancel()
        headDeadline = nil
        if counted {
            counted = false
            counter.leave()
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ problem: Problem) {
        let body = problem.body(instance: "/")
        var head = HTTPResponse(status: problem.status, headerFields: problem.headers)
        head.headerFields[.contentType] = "application/problem+json"
        head.headerFields[.contentLength] = String(body.readableBytes)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in loopBound.value.close(promise: nil) }
    }
}
