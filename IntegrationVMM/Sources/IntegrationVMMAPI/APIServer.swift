// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Hummingbird
import IntegrationVMMCore
import Logging
import NIOCore
import VMMSysUtil

/// The control API's HTTP/1.1 server on a Unix socket (Hummingbird parses and answers HTTP;
/// ``VMMController`` decides). Each request body is read up to ``maximumBodySize`` bytes; the
/// controller's work, which may block (a pause waits for the vCPUs), runs off the server's
/// event loops.
///
/// ```swift
/// let controller = VMMController(options: RunOptions())
/// try APIServer.start(socketPath: "/tmp/vmm.sock", controller: controller)
/// let machine = controller.waitForMachine()   // after PUT /actions {"action_type": "InstanceStart"}
/// ```
public enum APIServer {
    /// The largest request body read (Firecracker's API accepts at most 50 KiB per request too).
    public static let maximumBodySize = 50 * 1024

    /// Serves `controller` on a new socket at `socketPath` (an existing socket file is replaced)
    /// from a task of its own; returns once the socket listens.
    public static func start(socketPath: String, controller: VMMController) throws(VMMError) {
        if let type = try? FileManager.default.attributesOfItem(atPath: socketPath)[.type] as? FileAttributeType {
            guard type == .typeSocket else { throw VMMError("--api-sock: \(socketPath) exists and is not a socket") }
            try? FileManager.default.removeItem(atPath: socketPath)
        }
        // One thread of our own runs the controller, made now, before the machine runs and installs
        // its seccomp filters (a thread inherits its creator's filter: a pool thread made later by a
        // filtered thread could not open a snapshot file).
        let worker = APIWorker()
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let body: [UInt8]
            do {
                body = Array(buffer: try await request.body.collect(upTo: maximumBodySize))
            } catch {
                return response(.fault(APIError("request body larger than \(maximumBodySize) bytes", status: 413)))
            }
            let method = request.method.rawValue
            let path = request.uri.path
            let reply = await withCheckedContinuation { continuation in
                worker.submit {
                    continuation.resume(returning: controller.handle(method: method, path: path, body: body))
                }
            }
            return response(reply)
        }
        var logger = Logger(label: "integration-vmm.api") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error  // stdout is the guest's console
        let listening = DispatchSemaphore(value: 0)
        let application = Application(
            responder: responder, configuration: .init(address: .unixDomainSocket(path: socketPath)),
            onServerRunning: { _ in listening.signal() }, logger: logger)
        let failure = Failure()
        Task.detached {
            do {
                try await application.run()
            } catch {
                failure.set("\(error)")
                listening.signal()
            }
        }
        listening.wait()
        if let message = failure.message { throw VMMError("--api-sock \(socketPath): \(message)") }
    }

    private static func response(_ reply: APIResponse) -> Response {
        // Every answer says application/json, the API's one media type (a 204 too, though it has no body).
        var headers: HTTPFields = [.contentType: "application/json"]
        if !reply.allow.isEmpty { headers[.allow] = reply.allow.joined(separator: ", ") }
        return Response(
            status: HTTPResponse.Status(code: reply.status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: reply.body)))
    }

    /// Runs submitted work in order on one thread ("api").
    final class APIWorker: @unchecked Sendable {
        // @unchecked: `queue` is behind `condition`.
        private let condition = NSCondition()
        private var queue: [@Sendable () -> Void] = []

        init() {
            let thread = Thread { [self] in loop() }
            thread.name = "api"
            thread.start()
        }

        func submit(_ work: @escaping @Sendable () -> Void) {
            condition.withLock {
                queue.append(work)
                condition.signal()
            }
        }

        private func loop() {
            try? ThreadName.set("api")
            while true {
                let work = condition.withLock {
                    while queue.isEmpty { condition.wait() }
                    return queue.removeFirst()
                }
                work()
            }
        }
    }

    /// Why the server could not start.
    private final class Failure: @unchecked Sendable {
        // @unchecked: written once before `listening` is signalled, read after the wait.
        var message: String?
        func set(_ text: String) { message = text }
    }
}
