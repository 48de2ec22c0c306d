// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Foundation
import Glibc
import Synchronization
import Testing
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import Vhost
import VhostUser
import VirtioDevices

/// A vhost-user back-end scripted in the test, for what no real peer here does on demand:
/// configuration changes on the back-end channel (qemu-storage-daemon 7.2 sends one on
/// `block_resize`, but its drain then waits for the connected client forever) and
/// hostile replies. It answers from the codec: GET_FEATURES, GET_PROTOCOL_FEATURES,
/// GET_CONFIG (a virtio-blk capacity), keeps the back-end channel it is given, and
/// acknowledges everything else that asks.
final class ScriptedBackend: @unchecked Sendable {
    // @unchecked: the fields below are written by the back-end thread before `ready` is
    // signalled or behind `lock`.
    enum Behaviour { case cooperative, wrongReplyToGetFeatures, silent }

    let path: String
    let behaviour: Behaviour
    private let lock = NSLock()
    private var capacity: UInt64 = 2048
    /// The back-end channel's back-end end, once the front-end sent it.
    final class Channel {
        let socket: UnixSocket
        init(_ socket: consuming UnixSocket) { self.socket = socket }
    }
    private var channel: Channel?
    private let listener: FileDescriptor
    private var thread: Thread?

    init(_ behaviour: Behaviour) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("scripted-\(UUID()).sock").path
        self.behaviour = behaviour
        listener = try UnixSocket.listen(at: path, backlog: 1)
        let fd = listener.rawValue
        let thread = Thread { [self] in serve(fd) }
        self.thread = thread
        thread.start()
    }

    deinit { unlink(path) }

    func setCapacity(_ sectors: UInt64) { lock.withLock { capacity = sectors } }

    /// Sends `bytes` on the back-end channel and reads what comes back (nil: closed).
    func onChannel(send bytes: [UInt8], expectReply: Bool) throws -> [UInt8]? {
        try lock.withLock {
            guard let channel else { throw SystemError("no back-end channel", errno: .invalidArgument) }
            _ = try channel.socket.send(bytes)
            guard expectReply else { return [] }
            let reply = try channel.socket.receive(maxBytes: 64)
            return reply.bytes.isEmpty ? nil : reply.bytes
        }
    }

    /// Whether the front-end closed (shut down) the back-end channel.
    func channelClosed() throws -> Bool {
        try lock.withLock {
            guard let channel else { return false }
            var ready = pollfd(fd: channel.socket.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 5000) == 1 else { return false }
            return try channel.socket.receive(maxBytes: 1).bytes.isEmpty
        }
    }

    private func serve(_ listener: Int32) {
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return }
        let connection = UnixSocket(FileDescriptor(owning: fd))
        while true {
            guard var header = try? connection.receive(maxBytes: VhostUserMessage.headerSize, maxDescriptors: 8),
                header.bytes.count == VhostUserMessage.headerSize,
                let size = try? VhostUserMessage.decodeHeader(header.bytes).size
            else { return }
            var bytes = header.bytes
            if size > 0 {
                guard let body = try? connection.receive(maxBytes: Int(size)), body.bytes.count == Int(size) else {
                    return
                }
                bytes += body.bytes
            }
            guard let message = try? VhostUserMessage.decode(bytes),
                let request = VhostUserRequest(rawValue: message.request)
            else { return }
            if behaviour == .silent { continue }
            var reply: VhostUserMessage?
            switch request {
            case .getFeatures:
                let features = UInt64(1) << 32 | VhostUserFeatures.protocolFeatures
                reply = VhostUserMessage(
                    behaviour == .wrongReplyToGetFeatures ? .getProtocolFeatures : .getFeatures, flags: .reply,
                    payload: .u64(features))
            case .getProtocolFeatures:
                let offered: VhostUserProtocolFeatures = [.replyAck, .config, .backendRequests]
                reply = VhostUserMessage(.getProtocolFeatures, flags: .reply, payload: .u64(offered.rawValue))
            case .getConfig:
                guard case .config(let asked) = message.payload else { return }
                var config = [UInt8](repeating: 0, count: asked.bytes.count)
                let sectors = lock.withLock { capacity }
                for index in 0..<min(8, config.count) {
                    config[index] = UInt8(truncatingIfNeeded: sectors >> (8 * index))
                }
                reply = VhostUserMessage(
                    .getConfig, flags: .reply, payload: .config(VhostUserConfig(offset: asked.offset, bytes: config)))
            case .setConfig:
                // A writable byte at 32 (virtio-blk's writeback flag); everything else is refused.
                guard case .config(let window) = message.payload else { return }
                reply = VhostUserMessage(
                    rawRequest: message.request, flags: .reply, payload: .u64(window.offset == 32 ? 0 : 1))
            case .setBackendReqFd:
                guard let descriptor = header.takeDescriptor() else { return }
                let received = Channel(UnixSocket(descriptor))
                lock.withLock { channel = received }
            default: break
            }
            if reply == nil, message.flags.contains(.needReply) {
                reply = VhostUserMessage(rawRequest: message.request, flags: .reply, payload: .u64(0))
            }
            if let reply { _ = try? connection.send(reply.encoded()) }
        }
    }
}

@Suite("VhostUserDevice against a scripted back-end: the back-end channel and hostile replies", .serialized)
struct ScriptedBackendTests {
    func memory() throws -> GuestMemoryMap<MmapRegion> {
        try GuestMemoryMap(regions: [MmapRegion.memfd(at: GuestAddress(0), size: 1 << 20)])
    }

    @Test func aConfigChangeIsAcknowledgedAndReReadAndABadRequestClosesOnlyTheChannel() throws {
        let backend = try ScriptedBackend(.cooperative)
        let loop = try EventLoopThread.start()
        defer { _ = loop.stopAndJoin() }
        let lines = LineLog()
        let device = try VhostUserDevice(
            socketPath: backend.path, model: .block(), memory: try memory(), eventLoop: loop.remote
        ) { lines.append($0) }
        #expect(device.protocolFeatures.contains(.backendRequests))
        #expect(device.readConfig(offset: 0, size: 8) == 2048)

        // CONFIG_CHANGE_MSG with NEED_REPLY: acknowledged with status 0, then GET_CONFIG again.
        backend.setCapacity(4096)
        let change = VhostUserMessage(
            rawRequest: VhostUserBackendRequest.configChangeMsg.rawValue, flags: .needReply)
        let ack = try backend.onChannel(send: change.encoded(), expectReply: true)
        #expect(ack == VhostUserMessage.backendReply(to: 2, status: 0).encoded())
        let deadline = Date().addingTimeInterval(10)
        while device.readConfig(offset: 0, size: 8) != 4096, Date() < deadline { usleep(5000) }
        #expect(device.readConfig(offset: 0, size: 8) == 4096)

        // Guest writes go to the back-end: an accepted one shows in the cached space, a refused
        // one changes nothing and keeps the connection.
        device.writeConfig(offset: 32, size: 1, value: 1)
        #expect(device.readConfig(offset: 32, size: 1) == 1)
        device.writeConfig(offset: 0, size: 1, value: 0xff)
        #expect(device.readConfig(offset: 0, size: 8) == 4096)
        #expect(device.disconnectReason == nil && lines.all.isEmpty, "\(lines.all)")

        // A request nobody defined: the front-end stops listening on the channel and closes
        // it; the device and its connection stay up.
        let hostile = VhostUserMessage(rawRequest: 99, flags: [])
        _ = try backend.onChannel(send: hostile.encoded(), expectReply: false)
        #expect(try backend.channelClosed(), "the front-end kept reading a broken back-end channel")
        #expect(device.disconnectReason == nil && lines.all.isEmpty, "\(lines.all)")
        #expect(device.readConfig(offset: 0, size: 8) == 4096)
    }

    @Test func aReplyToAnotherRequestIsATypedErrorNamingTheSocket() throws {
        let backend = try ScriptedBackend(.wrongReplyToGetFeatures)
        let loop = try EventLoopThread.start()
        defer { _ = loop.stopAndJoin() }
        let memory = try memory()
        do {
            _ = try VhostUserDevice(socketPath: backend.path, model: .block(), memory: memory, eventLoop: loop.remote) {
                _ in
            }
            Issue.record("a reply to the wrong request was accepted")
        } catch {
            #expect(error.reason == .protocolError(.unexpectedReply(expected: 1, got: 15, flags: 5)), "\(error)")
            #expect(error.description.contains(backend.path))
        }
    }

    @Test func aSilentBackEndIsATimeoutNotAHang() throws {
        let backend = try ScriptedBackend(.silent)
        let loop = try EventLoopThread.start()
        defer { _ = loop.stopAndJoin() }
        let memory = try memory()
        let start = ContinuousClock.now
        do {
            _ = try VhostUserDevice(
                socketPath: backend.path, model: .block(), memory: memory, eventLoop: loop.remote,
                replyTimeout: .milliseconds(300)
            ) { _ in }
            Issue.record("a back-end that never answers was accepted")
        } catch {
            guard case .system(let cause) = error.reason else {
                Issue.record("\(error)")
                return
            }
            #expect(cause.errno.rawValue == EAGAIN, "\(error)")
        }
        #expect(ContinuousClock.now - start < .seconds(10))
    }
}
