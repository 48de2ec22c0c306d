// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import Synchronization
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import Vhost
import VirtioDevices

/// What a vhost-user daemon serves: any VirtioDevices device on memory mapped from the
/// front-end's table. The device logic is the in-process device's own: an
/// `EntropyDevice` or `BlockDevice` serves a daemon's front-end with the same code that
/// serves integration-vmm's guest. Its `VirtioDevice` requirements are the back-end's:
/// features, queue sizes, configuration space, `queueNotified` on a kick, `reset`, and
/// `activeQueues` for `GET_VRING_BASE`.
///
/// ```swift
/// let rng: some VhostUserBackend = EntropyDevice<GuestMemoryMap<MmapRegion>>()
/// ```
public typealias VhostUserBackend = VirtioDevice<GuestMemoryMap<MmapRegion>>

/// A vhost-user device daemon: listens on a Unix socket and serves one front-end at a
/// time with a ``VhostUserBackendSession``. Messages, and the kicks of every ring by
/// default, are handled on one EventManager loop on the calling thread. With `workers`
/// above 1, ring `i`'s kicks are served on worker `i % workers`: worker 0 is the calling
/// thread, the others are event-loop threads the daemon starts before it listens (so
/// they run under a filter installed in `onListening` without the filter allowing new
/// threads). A front-end that disconnects or sends something invalid is dropped (one
/// line to `log`) and the daemon waits for the next (or returns, with `frontends` given).
///
/// ```swift
/// let daemon = VhostUserDaemon(device: EntropyDevice<GuestMemoryMap<MmapRegion>>(), socketPath: "/tmp/rng.sock")
/// try daemon.serve()
/// ```
public final class VhostUserDaemon<Device: VhostUserBackend> {
    /// The device served.
    public let device: Device
    /// The listening socket's path (created by ``serve(frontends:onListening:)``, removed after).
    public let socketPath: String
    /// Threads serving the rings' kicks: the calling thread plus `workers - 1` started ones.
    public let workers: Int
    /// Where one-line reports go (connections, dropped front-ends).
    public var log: (String) -> Void = { line in
        let bytes = Array((line + "\n").utf8)
        // SAFETY: write reads exactly the array's bytes, alive for the call.
        _ = unsafe bytes.withUnsafeBytes { unsafe Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// A daemon for `device` on `socketPath`, serving kicks on `workers` threads (at least
    /// 1; more than the device has rings would leave some idle, so it is capped there).
    public init(device: Device, socketPath: String, workers: Int = 1) {
        precondition(workers >= 1, "a daemon needs at least one worker")
        self.device = device
        self.socketPath = socketPath
        self.workers = min(workers, max(1, device.queueMaximumSizes.count))
    }

    /// Listens and serves front-ends one after another: forever, or `frontends` of them.
    /// `onListening` runs once the socket accepts connections (and the worker threads run).
    public func serve(frontends: Int? = nil, onListening: () -> Void = {}) throws(SystemError) {
        var loops: [EventLoopThread] = []
        defer { for loop in loops { _ = loop.stopAndJoin() } }
        for _ in 1..<workers {
            do {
                loops.append(try EventLoopThread.start())
            } catch {
                if case .system(let cause) = error { throw cause }
                throw SystemError("worker event loop: \(error)", errno: Errno(rawValue: EAGAIN))
            }
        }
        let listener = try UnixSocket.listen(at: socketPath, backlog: 1)
        // SAFETY: the String is bridged to a NUL-terminated C string that lives for the call; unlink only reads it.
        defer { unsafe unlink(socketPath) }
        onListening()
        var served = 0
        while frontends.map({ served < $0 }) ?? true {
            guard let client = try UnixSocket.accept(listener) else { continue }
            served += 1
            log("front-end \(served) connected on \(socketPath)")
            let reason = serveConnection(UnixSocket(client), workers: loops.map(\.remote))
            log("front-end \(served) \(reason)")
        }
    }

    /// Serves one connection until it ends, kicks spread over this thread and `workers`;
    /// returns why it ended.
    func serveConnection(_ connection: consuming UnixSocket, workers: [RemoteEndpoint] = []) -> String {
        let manager: EventManager
        let ending = Ending()
        let channel = Connection(connection)
        var watchers: [KickWatcher] = []
        do {
            manager = try EventManager()
            for _ in 0...workers.count {
                watchers.append(
                    try KickWatcher(
                        onKick: { [device] index in device.queueNotified(index) },
                        onFailure: { [remote = manager.remote] reason in
                            ending.set("dropped: \(reason)")
                            // Wakes the connection's loop, which then sees the ending.
                            try? remote.post { _ in }
                        }))
            }
        } catch {
            return "dropped: event loop: \(error)"
        }
        // Bounded reads: half a message must not hang the daemon.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        // SAFETY: `timeout` is a local timeval, alive for the call, and the length passed is exactly its size.
        _ = unsafe setsockopt(channel.raw, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let session = VhostUserBackendSession(device: device, eventLoop: manager.remote)
        let subscriber = ConnectionSubscriber(
            connection: channel, session: session, watchers: watchers, ending: ending)
        var added: [(RemoteEndpoint, SubscriberID)] = []
        defer {
            // The workers let go of this connection's kick descriptors.
            for (remote, id) in added { _ = try? remote.call { manager in _ = try? manager.remove(id) } }
        }
        do {
            _ = try manager.add(watchers[0])
            for (remote, watcher) in zip(workers, watchers.dropFirst()) {
                added.append((remote, try remote.add(watcher)))
            }
            _ = try manager.add(subscriber)
            while ending.value == nil { try manager.runOnce() }
        } catch {
            session.stop()
            return "dropped: event loop: \(error)"
        }
        session.stop()
        return ending.value ?? "disconnected"
    }
}

/// Why serving a connection ended, set once from whichever thread saw it.
final class Ending: Sendable {
    private let reason = Mutex<String?>(nil)
    var value: String? { reason.withLock { $0 } }
    func set(_ value: String) { reason.withLock { $0 = $0 ?? value } }
}

/// The connected socket, shared by the subscriber's closures.
final class Connection {
    let socket: UnixSocket
    init(_ socket: consuming UnixSocket) { self.socket = socket }
    var raw: Int32 { socket.descriptor.rawValue }

    /// Reads one message: header (with up to 8 descriptors) and payload. Nil: the peer closed.
    func receive() throws -> (VhostUserMessage, [ReceivedDescriptor])? {
        var header = try socket.receive(
            maxBytes: VhostUserMessage.headerSize, maxDescriptors: VhostUserMessage.maximumRegions)
        if header.bytes.isEmpty { return nil }
        var descriptors: [ReceivedDescriptor] = []
        while let descriptor = header.takeDescriptor() { descriptors.append(ReceivedDescriptor(descriptor)) }
        if header.descriptorsTruncated { throw VhostUserBackendError.memory("more than 8 descriptors in one message") }
        var bytes = header.bytes
        guard try socket.receive(into: &bytes, upTo: VhostUserMessage.headerSize) else { return nil }
        let size = Int(try VhostUserMessage.decodeHeader(bytes).size)
        guard try socket.receive(into: &bytes, upTo: VhostUserMessage.headerSize + size) else { return nil }
        return (try VhostUserMessage.decode(bytes), descriptors)
    }

    func send(_ message: VhostUserMessage) throws { _ = try socket.send(message.encoded()) }
}

/// The connection's messages on the first loop; after each, the rings' kick descriptors
/// go to their workers' ``KickWatcher``s.
final class ConnectionSubscriber<Device: VhostUserBackend>: EventSubscriber {
    let connection: Connection
    let session: VhostUserBackendSession<Device>
    let watchers: [KickWatcher]
    let ending: Ending

    init(
        connection: Connection, session: VhostUserBackendSession<Device>, watchers: [KickWatcher], ending: Ending
    ) {
        self.connection = connection
        self.session = session
        self.watchers = watchers
        self.ending = ending
    }

    func register(with ops: EventOps) throws {
        try ops.add(connection.raw, events: .readable)
    }

    func process(_ event: ReadyEvent, with ops: EventOps) throws {
        do {
            guard let (message, received) = try connection.receive() else {
                ending.set("disconnected")
                return
            }
            var descriptors = received
            let acknowledged = message.flags.contains(.needReply)
            do {
                let reply = try session.handle(message, descriptors: &descriptors)
                if let reply {
                    try connection.send(reply)
                } else if acknowledged, session.protocolFeatures.contains(.replyAck) {
                    try connection.send(VhostUserMessage(rawRequest: message.request, flags: .reply, payload: .u64(0)))
                }
            } catch {
                if acknowledged, session.protocolFeatures.contains(.replyAck) {
                    try? connection.send(VhostUserMessage(rawRequest: message.request, flags: .reply, payload: .u64(1)))
                }
                throw error
            }
            var byWorker = Array(repeating: [Int: ReceivedDescriptor](), count: watchers.count)
            for (index, kick) in session.kicks { byWorker[index % watchers.count][index] = kick }
            for (watcher, kicks) in zip(watchers, byWorker) { watcher.watch(kicks) }
        } catch {
            ending.set("dropped: \(error)")
        }
    }
}

/// One worker's share of the rings' kicks, on its loop: watches the kick descriptors it is
/// given (``watch(_:)``, from any thread) and, on a kick, consumes it and calls `onKick`
/// with the ring's index. Holds each descriptor until it has left the loop, so a replaced
/// kick cannot close (and its number be reused) while still registered.
final class KickWatcher: EventSubscriber, Sendable {
    private static var changedToken: UInt64 { 1 << 32 }
    private let changed: EventFd
    private let wanted = Mutex<[Int: ReceivedDescriptor]>([:])
    /// Loop thread only (a Mutex so the class can move to its loop).
    private let watched = Mutex<[Int: ReceivedDescriptor]>([:])
    private let onKick: @Sendable (Int) -> Void
    private let onFailure: @Sendable (String) -> Void

    init(
        onKick: @escaping @Sendable (Int) -> Void, onFailure: @escaping @Sendable (String) -> Void
    ) throws(SystemError) {
        changed = try EventFd(flags: .nonBlocking)
        self.onKick = onKick
        self.onFailure = onFailure
    }

    /// Watches exactly `kicks` (ring index to descriptor) from the loop's next turn.
    func watch(_ kicks: [Int: ReceivedDescriptor]) {
        let different = wanted.withLock { wanted in
            let same = wanted.count == kicks.count && kicks.allSatisfy { wanted[$0.key] === $0.value }
            wanted = kicks
            return !same
        }
        if different { try? changed.signal() }
    }

    func register(with ops: EventOps) throws {
        try ops.add(changed.descriptor.rawValue, events: .readable, data: Self.changedToken)
    }

    func process(_ event: ReadyEvent, with ops: EventOps) throws {
        guard event.data == Self.changedToken else {
            let index = Int(event.data)
            guard let kick = watched.withLock({ $0[index] }) else { return }
            var value: UInt64 = 0
            // SAFETY: `value` is a local UInt64, alive for the call: read writes at most its 8 bytes.
            _ = unsafe Glibc.read(kick.raw, &value, 8)
            onKick(index)
            return
        }
        _ = try? changed.wait()
        let current = wanted.withLock { $0 }
        do throws(EventManagerError) {
            try watched.withLock { watched throws(EventManagerError) in
                for (index, kick) in watched where current[index] !== kick {
                    try? ops.remove(kick.raw)
                    watched[index] = nil
                }
                for (index, kick) in current where watched[index] == nil {
                    try ops.add(kick.raw, events: .readable, data: UInt64(index))
                    watched[index] = kick
                }
            }
        } catch {
            onFailure("kick: \(error)")
        }
    }
}
