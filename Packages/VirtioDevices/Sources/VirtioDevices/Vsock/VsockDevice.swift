// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import Synchronization
import VMMSysUtil
import VMMemory
import VirtioQueue

/// How a ``VsockDevice`` is set up: the guest's CID, the Unix socket path its
/// connections map to, and the bounds on what host clients and the guest may use.
///
/// ```swift
/// var configuration = VsockConfiguration(guestCID: 3, socketPath: "/run/vm0/vsock.sock")
/// configuration.maximumConnections = 64
/// ```
public struct VsockConfiguration: Sendable, Equatable {
    /// The guest's context ID (3 or more; 0–2 are reserved, `0xffffffff` is "any").
    public var guestCID: UInt64
    /// The listening socket for host-initiated connections; guest connections to host
    /// port N go to `"<socketPath>_N"`.
    public var socketPath: String
    /// Most connections at once, counting host clients still sending their `CONNECT` line.
    public var maximumConnections: Int = 1024
    /// Most host clients accepted but still sending their `CONNECT` line.
    public var maximumPendingClients: Int = 64
    /// Per-connection buffer for guest bytes the host socket has not taken yet; the
    /// `buf_alloc` credit advertised to the guest. Memory use is bounded by
    /// `maximumConnections * bufferSize`.
    public var bufferSize: UInt32 = 256 * 1024
    /// How long a host client may take to send `CONNECT <port>\n`.
    public var connectCommandTimeout: Duration = .seconds(5)
    /// How long the guest may take to answer a host-initiated REQUEST.
    public var responseTimeout: Duration = .seconds(2)
    /// How long a guest's full SHUTDOWN may wait for its bytes to drain before the RST.
    public var shutdownTimeout: Duration = .seconds(2)
    /// The listening socket's `listen(2)` backlog.
    public var listenBacklog: Int32 = 128

    /// A configuration with the default limits.
    public init(guestCID: UInt64, socketPath: String) {
        self.guestCID = guestCID
        self.socketPath = socketPath
    }
}

/// Why a ``VsockDevice`` could not be created.
///
/// ```swift
/// do { _ = try VsockDevice<Memory>(configuration: configuration) } catch .system(let error) where error.errno.rawValue == EADDRINUSE {
///     // a stale socket file: remove it, or pick another path
/// }
/// ```
public enum VsockError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The CID is reserved (0, 1, 2), "any" (`0xffffffff`) or above 32 bits.
    case invalidGuestCID(UInt64)
    /// The path is empty, holds a NUL, or leaves no room for `_<port>` in a `sockaddr_un`.
    case invalidSocketPath(String)
    /// A limit is zero, negative or out of range.
    case invalidLimit(String)
    /// Creating the listener or its companions failed (`EADDRINUSE`: the path exists).
    case system(SystemError)

    /// One line for logs.
    public var description: String {
        switch self {
        case .invalidGuestCID(let cid): "invalid guest CID \(cid) (must be 3 to 0xfffffffe)"
        case .invalidSocketPath(let path): "invalid vsock socket path \"\(path)\""
        case .invalidLimit(let reason): "invalid vsock limit: \(reason)"
        case .system(let error): "vsock: \(error)"
        }
    }
}

/// Counters of a ``VsockDevice`` since it was created (they survive resets).
///
/// ```swift
/// let stats = vsock.statistics
/// log("vsock: \(stats.activeConnections) open, \(stats.droppedPackets) dropped")
/// ```
public struct VsockStatistics: Sendable, Equatable {
    /// Guest connects that reached a host listener.
    public var guestConnections: UInt64 = 0
    /// Host clients whose `CONNECT` was forwarded to the guest.
    public var hostConnections: UInt64 = 0
    /// Guest connects refused (no listener at the path, or the connection limit).
    public var refusedConnections: UInt64 = 0
    /// Host clients closed before forwarding: limits, a malformed or late `CONNECT` line.
    public var rejectedClients: UInt64 = 0
    /// Guest packets dropped without an answer: short headers, a source CID not the guest's.
    public var droppedPackets: UInt64 = 0
    /// Guest packets that broke the protocol and got an RST (unknown op or type, a
    /// packet for no connection, a bad length, a wrong destination CID).
    public var protocolErrors: UInt64 = 0
    /// Connections reset because the guest sent more than the credit we gave it.
    public var creditViolations: UInt64 = 0
    /// Connections and host clients dropped at a deadline (a late client also counts as rejected).
    public var timeouts: UInt64 = 0
    /// RST packets sent to the guest.
    public var resetsSent: UInt64 = 0
    /// RSTs not sent because too many were queued (the guest's own timeouts end those connections).
    public var droppedResets: UInt64 = 0
    /// Receive buffers returned empty because no header fits (read-only or under 44 bytes).
    public var unusableReceiveBuffers: UInt64 = 0
    /// Connections open now.
    public var activeConnections: Int = 0
    /// Host clients accepted now and still sending their `CONNECT` line.
    public var pendingClients: Int = 0

    /// No events yet.
    public init() {}

    mutating func accumulate(_ other: VsockStatistics) {
        guestConnections += other.guestConnections
        hostConnections += other.hostConnections
        refusedConnections += other.refusedConnections
        rejectedClients += other.rejectedClients
        droppedPackets += other.droppedPackets
        protocolErrors += other.protocolErrors
        creditViolations += other.creditViolations
        timeouts += other.timeouts
        resetsSent += other.resetsSent
        droppedResets += other.droppedResets
        unusableReceiveBuffers += other.unusableReceiveBuffers
    }
}

/// virtio-vsock (virtio 1.2, section 5.10) with a userspace backend that maps
/// guest stream connections to host Unix sockets, the way Firecracker does.
///
/// - The guest connecting to the host (CID 2) on port N makes the device connect
///   to the Unix socket `"<socketPath>_N"`: RESPONSE on success, RST otherwise.
/// - A host program connects to `socketPath` and writes `CONNECT <port>\n`; the
///   device opens the guest's port from a new local port and, when the guest
///   accepts, answers `OK <local port>\n` and relays bytes both ways.
///
/// Both directions use the specification's credit flow control: the device never
/// sends the guest more than its `buf_alloc` allows and advertises
/// ``VsockConfiguration/bufferSize`` as its own. Every socket is non-blocking and
/// watched by the device's own subscriber on the activation's event loop; a reset
/// removes the subscriber and closes every connection and pending client. The
/// listening socket is created here, so the path exists before the guest boots,
/// and its path is unlinked when the device goes away.
///
/// ```swift
/// let vsock = try VsockDevice<GuestMemoryMap<MmapRegion>>(
///     configuration: VsockConfiguration(guestCID: 3, socketPath: "/run/vm0/v.sock"))
/// let transport = try MmioTransport(device: vsock, interrupt: interrupt, eventLoop: loop.remote, memory: memory)
/// // host side: connect to /run/vm0/v.sock, send "CONNECT 52\n", read "OK 1073741824\n"
/// ```
public final class VsockDevice<Memory: GuestMemory>: VirtioDevice, Sendable {
    /// `VIRTIO_VSOCK_F_STREAM` (bit 0): stream sockets (implied when nothing is negotiated).
    public static var featureStream: UInt64 { 1 << 0 }

    /// The configuration the device was created with.
    public let configuration: VsockConfiguration
    let host: VsockHostDescriptors
    private let listenerIdentity: FileIdentity?
    private let state = Mutex(VsockDeviceState<Memory>())

    /// Validates `configuration` and binds the listening socket at its path.
    public init(configuration: VsockConfiguration) throws(VsockError) {
        let cid = configuration.guestCID
        guard cid >= 3, cid < 0xffff_ffff else { throw .invalidGuestCID(cid) }
        // "<path>_<port>" must fit too: up to 11 more bytes.
        let path = configuration.socketPath
        guard UnixSocket.address(path) != nil, path.utf8.count + 11 <= UnixSocket.maximumPathLength else {
            throw .invalidSocketPath(path)
        }
        guard configuration.maximumConnections > 0, configuration.maximumConnections <= 1 << 16 else {
            throw .invalidLimit("maximumConnections \(configuration.maximumConnections) not in 1...65536")
        }
        guard configuration.maximumPendingClients > 0 else {
            throw .invalidLimit("maximumPendingClients must be positive")
        }
        guard configuration.bufferSize >= 4096, configuration.bufferSize <= 64 << 20 else {
            throw .invalidLimit("bufferSize \(configuration.bufferSize) not in 4 KiB...64 MiB")
        }
        guard configuration.listenBacklog > 0 else { throw .invalidLimit("listenBacklog must be positive") }
        for timeout in [
            configuration.connectCommandTimeout, configuration.responseTimeout, configuration.shutdownTimeout,
        ] where timeout <= .zero {
            throw .invalidLimit("timeouts must be positive")
        }
        self.configuration = configuration
        let listener: FileDescriptor
        do { listener = try UnixStreamIO.listen(at: path, backlog: configuration.listenBacklog) } catch {
            throw .system(error)
        }
        listenerIdentity = UnixStreamIO.identity(of: path)
        do { host = try VsockHostDescriptors(listener: listener) } catch {
            // SAFETY: the String is bridged to a NUL-terminated C string that lives for the call; unlink only reads it.
            _ = unsafe unlink(path)
            throw .system(error)
        }
    }

    deinit {
        let (backend, subscriber) = state.withLock { state in
            let backend = state.backend
            state.backend = nil
            return (backend, state.subscriber)
        }
        if let backend { Self.retire(backend, subscriber: subscriber, host: host) }
        // Only our own socket: a newer device may have bound the same path since.
        if let listenerIdentity, UnixStreamIO.identity(of: configuration.socketPath) == listenerIdentity {
            // SAFETY: the String is bridged to a NUL-terminated C string that lives for the call; unlink only reads it.
            _ = unsafe unlink(configuration.socketPath)
        }
    }

    /// Counters since creation, with the connections open now.
    public var statistics: VsockStatistics {
        state.withLock { state in
            var total = state.totals
            if let backend = state.backend {
                total.accumulate(backend.statistics)
                total.activeConnections = backend.activeConnections
                total.pendingClients = backend.pendingClients
            }
            return total
        }
    }

    /// ``VirtioDeviceType/vsock``.
    public var deviceType: VirtioDeviceType { .vsock }
    /// rx, tx and event queues of 256 entries.
    public var queueMaximumSizes: [UInt16] { [256, 256, 256] }
    /// ``featureStream``.
    public var deviceFeatures: UInt64 { Self.featureStream }
    /// `guest_cid` (u64).
    public var configSize: Int { 8 }

    /// Reads `guest_cid`.
    public func readConfig(offset: Int, size: Int) -> UInt64 {
        var config = ConfigSpace()
        config.append(configuration.guestCID)
        return Self.readLittleEndian(config.bytes, offset: offset, size: size)
    }

    /// The configuration space is read-only.
    public func writeConfig(offset: Int, size: Int, value: UInt64) {}

    /// Starts a backend for this activation and adds its subscriber to the event loop.
    public func activate(_ activation: VirtioActivation<Memory>) throws(VirtioDeviceError) {
        guard activation.queues.count == 3 else { throw .queueNotReady(activation.queues.count) }
        for index in [VsockQueue.receive, VsockQueue.transmit] where !activation.queues[index].ready {
            throw .queueNotReady(index)
        }
        let backend = VsockBackend(activation: activation, configuration: configuration, host: host)
        let (previous, subscriber, generation) = state.withLock { state in
            let subscriber = state.subscriber
            let previous = state.takeBackend()
            state.generation &+= 1
            state.backend = backend
            return (previous, subscriber, state.generation)
        }
        if let previous { Self.retire(previous, subscriber: subscriber, host: host) }
        do {
            try activation.eventLoop.post { [weak self] manager in self?.attach(to: manager, generation: generation) }
        } catch {
            state.withLock { state in
                if state.generation == generation { _ = state.takeBackend() }
            }
            throw .backend("event loop: \(error)")
        }
    }

    /// The rx, tx and event queues while active.
    public var activeQueues: [Virtqueue]? { state.withLock { $0.backend?.activation.queues } }

    /// Stops the backend: the subscriber is removed from the event loop and every
    /// connection and pending host client is closed there. The listening socket
    /// stays bound; clients that connect meanwhile wait for the next activation.
    public func reset() {
        let (backend, subscriber) = state.withLock { state in
            state.generation &+= 1
            let subscriber = state.subscriber
            return (state.takeBackend(), subscriber)
        }
        if let backend { Self.retire(backend, subscriber: subscriber, host: host) }
    }

    /// Passes the notification to the backend's subscriber (so socket changes have its `EventOps`).
    public func queueNotified(_ index: Int) {
        guard index >= 0, index < 8 else { return }
        host.notifiedQueues.bitwiseOr(UInt8(1) << UInt8(index), ordering: .acquiringAndReleasing)
        try? host.kick.signal()
    }

    // MARK: Event loop side

    /// Adds this activation's subscriber, unless a reset came first (loop thread).
    private func attach(to manager: EventManager, generation: UInt64) {
        guard state.withLock({ $0.generation == generation }) else { return }
        let subscriber = VsockSubscriber(device: self, host: host, generation: generation)
        let id: SubscriberID
        do {
            id = try manager.add(subscriber)
        } catch {
            state.withLock { state in
                if state.generation == generation { state.backend?.activation.markBroken("vsock: \(error)") }
            }
            return
        }
        let current = state.withLock { state in
            guard state.generation == generation else { return false }
            state.subscriber = id
            return true
        }
        if !current { _ = try? manager.remove(id) }
    }

    /// One ready descriptor of the subscriber of `generation` (loop thread).
    func process(_ event: ReadyEvent, ops: EventOps, generation: UInt64) {
        state.withLock { state in
            guard state.generation == generation, let backend = state.backend else { return }
            backend.handle(event, ops: ops)
        }
    }

    /// Removes a backend's subscriber and drops the backend on its loop thread, so
    /// its sockets leave epoll before they close. `host` lives until then.
    private static func retire(_ backend: VsockBackend<Memory>, subscriber: SubscriberID?, host: VsockHostDescriptors) {
        let loop = backend.activation.eventLoop
        // If the loop is gone the job is dropped, and the backend (closing its sockets) with it.
        try? loop.post { manager in
            if let subscriber { _ = try? manager.remove(subscriber) }
            withExtendedLifetime(host) { backend.shutdown() }
        }
    }
}

/// The device's lock-protected part.
struct VsockDeviceState<Memory: GuestMemory> {
    var backend: VsockBackend<Memory>?
    /// Bumped by every activation and reset; stale subscribers and jobs compare it.
    var generation: UInt64 = 0
    var subscriber: SubscriberID?
    /// Counters of retired backends.
    var totals = VsockStatistics()

    /// Takes the backend out, keeping its counters.
    mutating func takeBackend() -> VsockBackend<Memory>? {
        guard let backend else { return nil }
        totals.accumulate(backend.statistics)
        self.backend = nil
        subscriber = nil
        return backend
    }
}

/// The device's subscriber on the event loop: the kick eventfd, the listener, the
/// timer and every connection socket. Holds the device weakly; a subscriber of an
/// older activation ignores events until its removal job runs.
final class VsockSubscriber<Memory: GuestMemory>: EventSubscriber {
    weak var device: VsockDevice<Memory>?
    let host: VsockHostDescriptors
    let generation: UInt64

    init(device: VsockDevice<Memory>, host: VsockHostDescriptors, generation: UInt64) {
        self.device = device
        self.host = host
        self.generation = generation
    }

    func register(with ops: EventOps) throws {
        try ops.add(host.kick.descriptor.rawValue, events: .readable, data: VsockToken.kick)
        try ops.add(host.listener.rawValue, events: .readable, data: VsockToken.listener)
        try ops.add(host.timer.descriptor.rawValue, events: .readable, data: VsockToken.timer)
    }

    func process(_ event: ReadyEvent, with ops: EventOps) throws {
        // The device is gone: throwing makes the manager drop this subscriber.
        guard let device else { throw VirtioDeviceError.backend("vsock device released") }
        device.process(event, ops: ops, generation: generation)
    }
}
