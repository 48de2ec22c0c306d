// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import VMMSysUtil
import Vhost

/// Why a vhost-user exchange failed, with the socket it was on.
public struct VhostUserFrontendError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public enum Reason: Sendable, Equatable {
        /// The socket call failed (connect, send, receive, or a receive timeout: `EAGAIN`).
        case system(SystemError)
        /// The back-end sent bytes that are not a valid reply.
        case protocolError(VhostUserError)
        /// The back-end closed the connection.
        case disconnected
        /// The back-end lacks something the caller needs.
        case unsupported(String)
        /// The request or the device cannot work as asked (the text says why).
        case invalid(String)
    }
    /// The back-end's socket path.
    public var socketPath: String
    /// What went wrong.
    public var reason: Reason

    /// Creates a value from its fields.
    public init(socketPath: String, reason: Reason) {
        self.socketPath = socketPath
        self.reason = reason
    }

    /// One line naming the socket and the cause.
    public var description: String {
        switch reason {
        case .system(let error): return "vhost-user \(socketPath): \(error)"
        case .protocolError(let error): return "vhost-user \(socketPath): invalid message: \(error)"
        case .disconnected: return "vhost-user \(socketPath): the back-end closed the connection"
        case .unsupported(let what): return "vhost-user \(socketPath): the back-end does not support \(what)"
        case .invalid(let why): return socketPath.isEmpty ? why : "vhost-user \(socketPath): \(why)"
        }
    }
}

/// The front-end side of one vhost-user connection: requests go out on the socket (with
/// their file descriptors), replies are read and checked before anything is returned.
///
/// Calls are synchronous and not thread-safe: one thread owns a frontend. Every reply wait
/// is bounded by ``replyTimeout`` (a hung back-end is an error, not a hung VMM).
///
/// ```swift
/// func negotiate(path: String) throws {
///     let frontend = try VhostUserFrontend(connectingTo: path)
///     let features = try frontend.getFeatures()
///     try frontend.setOwner()
///     if features & VhostUserFeatures.protocolFeatures != 0 {
///         let offered = try frontend.getProtocolFeatures()
///         try frontend.setProtocolFeatures(offered.intersection([.multiQueue, .replyAck, .config]))
///     }
/// }
/// ```
public final class VhostUserFrontend {
    /// The back-end's socket path (for messages).
    public let socketPath: String
    let socket: UnixSocket
    /// Protocol features both sides agreed on (after ``setProtocolFeatures(_:)``).
    public private(set) var protocolFeatures: VhostUserProtocolFeatures = []
    /// Longest wait for one reply.
    public let replyTimeout: Duration

    /// Connects to the back-end listening at `path`.
    public init(connectingTo path: String, replyTimeout: Duration = .seconds(10)) throws(VhostUserFrontendError) {
        socketPath = path
        self.replyTimeout = replyTimeout
        do {
            socket = UnixSocket(try UnixSocket.connect(to: path))
            try Self.setReceiveTimeout(socket.descriptor.rawValue, replyTimeout)
        } catch {
            throw VhostUserFrontendError(socketPath: path, reason: .system(error))
        }
    }

    static func setReceiveTimeout(_ fd: Int32, _ timeout: Duration) throws(SystemError) {
        let milliseconds = max(timeout.wholeMillisecondsRoundedUp, 1)
        var value = timeval(tv_sec: Int(milliseconds / 1000), tv_usec: Int(milliseconds % 1000) * 1000)
        // SAFETY: `value` is a local timeval, alive for the call, and the length passed is exactly its size.
        if unsafe setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size)) != 0 {
            throw SystemError.current("setsockopt(SO_RCVTIMEO)")
        }
    }

    /// The connected socket's descriptor, to watch for the back-end hanging up (owned here).
    public var socketDescriptor: Int32 { socket.descriptor.rawValue }

    /// Whether the connection is unusable, checked without blocking or consuming anything:
    /// the back-end closed it (end of file, reset), or sent bytes nobody asked for (a
    /// back-end speaks on this channel only to reply). False while it is quiet.
    ///
    /// ```swift
    /// if frontend.isBroken() { print("\(frontend.socketPath): the back-end went away") }
    /// ```
    public func isBroken() -> Bool {
        var byte: UInt8 = 0
        // SAFETY: `byte` is a local UInt8, alive for the call; recv writes at most the 1 byte asked for.
        let count = unsafe recv(socket.descriptor.rawValue, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if count < 0 { return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) }
        return true  // 0: end of file; 1: unsolicited bytes
    }

    func fail(_ reason: VhostUserFrontendError.Reason) -> VhostUserFrontendError {
        VhostUserFrontendError(socketPath: socketPath, reason: reason)
    }

    // MARK: - Messages

    /// Sends `message` with `descriptors` (SCM_RIGHTS). A partial send of a message is an error:
    /// Unix stream sockets send a message this small whole or not at all.
    public func send(_ message: VhostUserMessage, descriptors: [Int32] = []) throws(VhostUserFrontendError) {
        let bytes = message.encoded()
        let sent: Int
        do {
            sent = try socket.send(bytes, descriptors: descriptors)
        } catch {
            throw fail(Self.isDisconnect(error.errno) ? .disconnected : .system(error))
        }
        if sent != bytes.count { throw fail(.system(SystemError("sendmsg (short)", errno: Errno(rawValue: EMSGSIZE)))) }
    }

    static func isDisconnect(_ errno: Errno) -> Bool {
        errno.rawValue == EPIPE || errno.rawValue == ECONNRESET || errno.rawValue == ENOTCONN
    }

    /// Reads exactly `count` bytes (a reply can arrive in pieces).
    func receiveExactly(_ count: Int) throws(VhostUserFrontendError) -> [UInt8] {
        var bytes: [UInt8] = []
        let complete: Bool
        do {
            complete = try socket.receive(into: &bytes, upTo: count)
        } catch {
            throw fail(Self.isDisconnect(error.errno) ? .disconnected : .system(error))
        }
        guard complete else { throw fail(.disconnected) }
        return bytes
    }

    /// Reads one reply to `request` and decodes it (`acknowledged`: a `REPLY_ACK` is expected).
    public func receiveReply(
        to request: VhostUserRequest, acknowledged: Bool = false
    ) throws(VhostUserFrontendError)
        -> VhostUserPayload
    {
        let header = try receiveExactly(VhostUserMessage.headerSize)
        let size: UInt32
        do {
            size = try VhostUserMessage.decodeHeader(header).size
        } catch {
            throw fail(.protocolError(error))
        }
        let body = try receiveExactly(Int(size))
        do {
            return try VhostUserMessage.decodeReply(to: request, header + body, acknowledged: acknowledged)
        } catch {
            throw fail(.protocolError(error))
        }
    }

    /// Sends `request` and returns its reply: the request's own reply when it has one, else
    /// (with `REPLY_ACK` negotiated) waits for the acknowledgement and returns nil.
    @discardableResult
    public func call(
        _ request: VhostUserRequest, _ payload: VhostUserPayload = .empty, descriptors: [Int32] = []
    )
        throws(VhostUserFrontendError) -> VhostUserPayload?
    {
        let acknowledged = request.replyLayout == nil && protocolFeatures.contains(.replyAck)
        try send(
            VhostUserMessage(request, flags: acknowledged ? .needReply : [], payload: payload), descriptors: descriptors
        )
        if request.replyLayout != nil { return try receiveReply(to: request) }
        if acknowledged { _ = try receiveReply(to: request, acknowledged: true) }
        return nil
    }

    func u64(_ request: VhostUserRequest) throws(VhostUserFrontendError) -> UInt64 {
        guard case .u64(let value)? = try call(request) else {
            throw fail(.protocolError(.sizeMismatch(request: request.rawValue, size: 0)))
        }
        return value
    }

    // MARK: - Requests

    /// `GET_FEATURES`: the device's virtio features plus ``VhostUserFeatures/protocolFeatures``.
    public func getFeatures() throws(VhostUserFrontendError) -> UInt64 { try u64(.getFeatures) }

    /// `SET_FEATURES`: the features the driver accepted.
    public func setFeatures(_ features: UInt64) throws(VhostUserFrontendError) {
        try call(.setFeatures, .u64(features))
    }

    /// `SET_OWNER`: this connection owns the back-end's device.
    public func setOwner() throws(VhostUserFrontendError) { try call(.setOwner) }

    /// `GET_PROTOCOL_FEATURES`.
    public func getProtocolFeatures() throws(VhostUserFrontendError) -> VhostUserProtocolFeatures {
        VhostUserProtocolFeatures(rawValue: try u64(.getProtocolFeatures))
    }

    /// `SET_PROTOCOL_FEATURES`; later calls use `REPLY_ACK` when it is in `features`.
    public func setProtocolFeatures(_ features: VhostUserProtocolFeatures) throws(VhostUserFrontendError) {
        try call(.setProtocolFeatures, .u64(features.rawValue))
        protocolFeatures = features
    }

    /// `GET_QUEUE_NUM` (with `MQ`): how many queues the back-end serves.
    public func getQueueCount() throws(VhostUserFrontendError) -> UInt64 { try u64(.getQueueNum) }

    /// `GET_MAX_MEM_SLOTS` (with `CONFIGURE_MEM_SLOTS`).
    public func getMaximumMemorySlots() throws(VhostUserFrontendError) -> UInt64 { try u64(.getMaxMemSlots) }

    /// `SET_MEM_TABLE`: every guest memory region with its file descriptor (one per region, in order).
    public func setMemoryTable(_ regions: [VhostUserMemoryRegion], descriptors: [Int32]) throws(VhostUserFrontendError)
    {
        guard regions.count == descriptors.count, regions.count <= VhostUserMessage.maximumRegions else {
            throw fail(.unsupported("\(regions.count) memory regions with \(descriptors.count) descriptors"))
        }
        try call(.setMemTable, .memoryTable(regions), descriptors: descriptors)
    }

    /// `ADD_MEM_REG` (with `CONFIGURE_MEM_SLOTS`): one more region.
    public func addMemoryRegion(_ region: VhostUserMemoryRegion, descriptor: Int32) throws(VhostUserFrontendError) {
        try call(.addMemReg, .memoryRegion(region), descriptors: [descriptor])
    }

    /// `SET_VRING_NUM`: ring `index` has `size` entries.
    public func setVringSize(_ index: UInt32, _ size: UInt32) throws(VhostUserFrontendError) {
        try call(.setVringNum, .vringState(VringState(index: index, num: size)))
    }

    /// `SET_VRING_ADDR`: where the ring's parts are, in this process's address space.
    public func setVringAddress(_ address: VringAddress) throws(VhostUserFrontendError) {
        try call(.setVringAddr, .vringAddress(address))
    }

    /// `SET_VRING_BASE`: the next available index the back-end reads.
    public func setVringBase(_ index: UInt32, _ base: UInt32) throws(VhostUserFrontendError) {
        try call(.setVringBase, .vringState(VringState(index: index, num: base)))
    }

    /// `GET_VRING_BASE`: stops ring `index` and returns its next available index.
    public func getVringBase(_ index: UInt32) throws(VhostUserFrontendError) -> UInt32 {
        guard case .vringState(let state)? = try call(.getVringBase, .vringState(VringState(index: index, num: 0))),
            state.index == index
        else { throw fail(.protocolError(.sizeMismatch(request: VhostUserRequest.getVringBase.rawValue, size: 8))) }
        return state.num
    }

    /// `SET_VRING_KICK`/`CALL`/`ERR`: the eventfd for ring `index` (nil: none, the back-end polls).
    public func setVringDescriptor(
        _ request: VhostUserRequest, index: UInt8, descriptor: Int32?
    )
        throws(VhostUserFrontendError)
    {
        guard [.setVringKick, .setVringCall, .setVringErr].contains(request) else {
            throw fail(.unsupported("\(request) as a ring descriptor request"))
        }
        let value = VringDescriptorPayload.encode(index: index, hasDescriptor: descriptor != nil)
        try call(request, .u64(value), descriptors: descriptor.map { [$0] } ?? [])
    }

    /// `SET_VRING_ENABLE`.
    public func setVringEnabled(_ index: UInt32, _ enabled: Bool) throws(VhostUserFrontendError) {
        try call(.setVringEnable, .vringState(VringState(index: index, num: enabled ? 1 : 0)))
    }

    /// `GET_CONFIG` (with `CONFIG`): `size` bytes of the device's configuration space at `offset`.
    public func getConfig(offset: UInt32, size: UInt32) throws(VhostUserFrontendError) -> [UInt8] {
        guard size <= VhostUserMessage.maximumConfigSize else {
            throw fail(.protocolError(.badConfigSize(size)))
        }
        let request = VhostUserConfig(offset: offset, bytes: [UInt8](repeating: 0, count: Int(size)))
        guard case .config(let reply)? = try call(.getConfig, .config(request)), reply.bytes.count == Int(size),
            reply.offset == offset
        else { throw fail(.protocolError(.badConfigSize(size))) }
        return reply.bytes
    }

    /// `SET_CONFIG` (with `CONFIG`): writes `bytes` at `offset` of the configuration space.
    public func setConfig(offset: UInt32, bytes: [UInt8]) throws(VhostUserFrontendError) {
        try call(.setConfig, .config(VhostUserConfig(offset: offset, bytes: bytes)))
    }

    /// `SET_STATUS` (with `STATUS`): the driver's device status byte.
    public func setStatus(_ status: UInt8) throws(VhostUserFrontendError) { try call(.setStatus, .u64(UInt64(status))) }

    /// `GET_STATUS` (with `STATUS`).
    public func getStatus() throws(VhostUserFrontendError) -> UInt8 { UInt8(truncatingIfNeeded: try u64(.getStatus)) }
}
