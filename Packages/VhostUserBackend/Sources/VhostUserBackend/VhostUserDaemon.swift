// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
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
/// time with a ``VhostUserBackendSession``. Messages and kicks are handled on one
/// EventManager loop on the calling thread; a front-end that disconnects or sends
/// something invalid is dropped (one line to `log`) and the daemon waits for the next
/// (or returns, with `frontends` given).
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
    /// Where one-line reports go (connections, dropped front-ends).
    public var log: (String) -> Void = { line in
        let bytes = Array((line + "\n").utf8)
        // SAFETY: write reads exactly the array's bytes, alive for the call.
        _ = bytes.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// A daemon for `device` on `socketPath`.
    public init(device: Device, socketPath: String) {
        self.device = device
        self.socketPath = socketPath
    }

    /// Listens and serves front-ends one after another: forever, or `frontends` of them.
    /// `onListening` runs once the socket accepts connections.
    public func serve(frontends: Int? = nil, onListening: () -> Void = {}) throws(SystemError) {
        let listener = try UnixSocket.listen(at: socketPath, backlog: 1)
        defer { unlink(socketPath) }
        onListening()
        var served = 0
        while frontends.map({ served < $0 }) ?? true {
            guard let client = try UnixSocket.accept(listener) else { continue }
            served += 1
            log("front-end \(served) connected on \(socketPath)")
            let reason = serveConnection(UnixSocket(client))
            log("front-end \(served) \(reason)")
        }
    }

    /// Serves one connection until it ends; returns why it ended.
    func serveConnection(_ connection: consuming UnixSocket) -> String {
        let manager: EventManager
        do {
            manager = try EventManager()
        } catch {
            return "dropped: event loop: \(error)"
        }
        let channel = Connection(connection)
        // Bounded reads: half a message must not hang the daemon.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(channel.raw, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let session = VhostUserBackendSession(device: device, eventLoop: manager.remote)
        let subscriber = ConnectionSubscriber(connection: channel, session: session)
        do {
            _ = try manager.add(subscriber)
            while subscriber.ending == nil { try manager.runOnce() }
        } catch {
            session.stop()
            return "dropped: event loop: \(error)"
        }
        session.stop()
        return subscriber.ending ?? "disconnected"
    }
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

/// The connection and the rings' kick eventfds on one loop.
final class ConnectionSubscriber<Device: VhostUserBackend>: EventSubscriber {
    static var connectionToken: UInt64 { 1 << 32 }
    let connection: Connection
    let session: VhostUserBackendSession<Device>
    /// Kick descriptors registered now, by ring; held until they leave the loop, so a
    /// replaced kick cannot close (and its number be reused) while still registered.
    var watched: [Int: ReceivedDescriptor] = [:]
    /// Why serving ended, once it did.
    var ending: String?

    init(connection: Connection, session: VhostUserBackendSession<Device>) {
        self.connection = connection
        self.session = session
    }

    func register(with ops: EventOps) throws {
        try ops.add(connection.raw, events: .readable, data: Self.connectionToken)
    }

    func process(_ event: ReadyEvent, with ops: EventOps) throws {
        guard event.data == Self.connectionToken else {
            session.kicked(Int(event.data))
            return
        }
        do {
            guard let (message, received) = try connection.receive() else {
                ending = "disconnected"
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
            try reconcileKicks(ops)
        } catch {
            ending = "dropped: \(error)"
        }
    }

    /// Watches exactly the kick descriptors the session holds now.
    func reconcileKicks(_ ops: EventOps) throws {
        let current = Dictionary(uniqueKeysWithValues: session.kicks.map { ($0.index, $0.kick) })
        for (index, kick) in watched where current[index] !== kick {
            try? ops.remove(kick.raw)
            watched[index] = nil
        }
        for (index, kick) in current where watched[index] == nil {
            try ops.add(kick.raw, events: .readable, data: UInt64(index))
            watched[index] = kick
        }
    }
}
