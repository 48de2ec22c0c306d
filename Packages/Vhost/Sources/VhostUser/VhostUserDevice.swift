// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import Synchronization
import VMDevice
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import Vhost
import VirtioDevices
import VirtioQueue

/// What a vhost-user device is to the guest: its type, its queues and where its
/// configuration space comes from. The back-end implements the device; this says how
/// the VMM presents it.
///
/// ```swift
/// let disk = VhostUserDeviceModel.block()
/// let share = try VhostUserDeviceModel.filesystem(tag: "shared")
/// let rng = VhostUserDeviceModel(type: VirtioDeviceType(rawValue: 4), queueSizes: [256])
/// ```
public struct VhostUserDeviceModel: Sendable, Equatable {
    /// Where the device's configuration space comes from.
    public enum ConfigSource: Sendable, Equatable {
        /// The back-end's: `GET_CONFIG` of this many bytes (needs the `CONFIG` protocol
        /// feature); guest writes go to it with `SET_CONFIG`.
        case backend(size: Int)
        /// Fixed bytes the VMM presents (virtio-fs: the tag); guest writes are ignored.
        case local([UInt8])
    }

    /// The device ID the guest sees.
    public var type: VirtioDeviceType
    /// Each queue's largest size; the count is the number of queues the back-end serves.
    public var queueSizes: [UInt16]
    /// The configuration space.
    public var config: ConfigSource

    /// A model; `config` defaults to no configuration space.
    public init(type: VirtioDeviceType, queueSizes: [UInt16], config: ConfigSource = .local([])) {
        self.type = type
        self.queueSizes = queueSizes
        self.config = config
    }

    /// `struct virtio_blk_config` up to `write_zeroes_may_unmap` and its padding (60 bytes):
    /// what QEMU 7.2's back-ends (qemu-storage-daemon) answer `GET_CONFIG` with.
    public static let blockConfigSize = 60

    /// virtio-blk with one queue; the back-end provides capacity, segment limits and the rest.
    public static func block(queueSize: UInt16 = 256) -> VhostUserDeviceModel {
        VhostUserDeviceModel(type: .block, queueSizes: [queueSize], config: .backend(size: blockConfigSize))
    }

    /// virtio-fs: a high-priority queue plus `requestQueues` request queues, and a
    /// configuration space with `tag` (1 to 36 bytes, the name the guest mounts).
    public static func filesystem(
        tag: String, requestQueues: Int = 1, queueSize: UInt16 = 1024
    ) throws(VhostUserFrontendError) -> VhostUserDeviceModel {
        let bytes = Array(tag.utf8)
        guard (1...36).contains(bytes.count) else {
            throw VhostUserFrontendError(
                socketPath: "", reason: .invalid("a virtio-fs tag has 1 to 36 bytes, '\(tag)' has \(bytes.count)"))
        }
        guard (1...64).contains(requestQueues) else {
            throw VhostUserFrontendError(
                socketPath: "", reason: .invalid("virtio-fs request queues: 1 to 64, got \(requestQueues)"))
        }
        var config = ConfigSpace()
        config.append(bytes: bytes + [UInt8](repeating: 0, count: 36 - bytes.count))
        config.append(UInt32(requestQueues))
        return VhostUserDeviceModel(
            type: .filesystem, queueSizes: Array(repeating: queueSize, count: 1 + requestQueues),
            config: .local(config.bytes))
    }
}

/// Guest memory as a vhost-user back-end maps it: every region with the descriptor of
/// the file behind it (a memfd) and the address it has in this process.
///
/// ```swift
/// let ram = try MmapRegion.memfd(at: GuestAddress(0), size: 256 << 20, name: "guest-ram")
/// let memory = try GuestMemoryMap(regions: [ram])
/// let share = try VhostUserMemoryShare(memory, socketPath: "/run/blk.sock")
/// ```
public struct VhostUserMemoryShare: Sendable {
    /// The `SET_MEM_TABLE` regions, in guest-address order.
    public let regions: [VhostUserMemoryRegion]
    /// One descriptor per region, owned by the memory's regions (the caller keeps them alive).
    public let descriptors: [Int32]

    /// Describes every region of `memory`. Anonymous memory cannot be shared: a region
    /// without a backing file is an error naming it.
    public init(_ memory: GuestMemoryMap<MmapRegion>, socketPath: String) throws(VhostUserFrontendError) {
        var regions: [VhostUserMemoryRegion] = []
        var descriptors: [Int32] = []
        for region in memory.regions {
            guard let descriptor = region.fileDescriptor else {
                throw VhostUserFrontendError(
                    socketPath: socketPath,
                    reason: .invalid(
                        "guest memory at 0x\(String(region.startAddress.rawValue, radix: 16)) is anonymous; "
                            + "a vhost-user back-end needs shared, file-backed memory (memfd)"))
            }
            // SAFETY: only the address of the mapping is read, as an integer for the back-end; nothing is dereferenced.
            unsafe regions.append(
                VhostUserMemoryRegion(
                    guestAddress: region.startAddress.rawValue, size: region.size,
                    userAddress: UInt64(UInt(bitPattern: region.hostAddress)), mmapOffset: region.fileOffset))
            descriptors.append(descriptor)
        }
        guard regions.count <= VhostUserMessage.maximumRegions else {
            throw VhostUserFrontendError(
                socketPath: socketPath,
                reason: .invalid("\(regions.count) memory regions; SET_MEM_TABLE carries at most 8"))
        }
        self.regions = regions
        self.descriptors = descriptors
    }

    /// This process's address of guest-physical `address`, when `length` bytes from it lie in one region.
    public func userAddress(of address: GuestAddress, length: UInt64) -> UInt64? {
        for region in regions where address.rawValue >= region.guestAddress {
            let offset = address.rawValue - region.guestAddress
            if offset <= region.size, length <= region.size - offset { return region.userAddress + offset }
        }
        return nil
    }
}

/// A virtio device whose queues a vhost-user back-end serves, behind an ``MmioTransport``
/// like the in-process devices: the guest negotiates features and status with the
/// transport; on `DRIVER_OK` the device hands guest memory and every enabled ring to the
/// back-end, with each queue's notifier eventfd as the kick (KVM signals it from the
/// ioeventfd) and the interrupt's irqfd as the call. No byte of the data path passes
/// through the VMM.
///
/// When the interrupt's group cannot give out its eventfd, the device gives the back-end
/// eventfds of its own and raises the interrupt when they fire (one hop through the
/// event loop).
///
/// The back-end's death is noticed on the event loop: the device is marked
/// `DEVICE_NEEDS_RESET`, `onDisconnect` receives one line naming the socket, and the
/// VMM and its other devices keep running. Requests to the back-end happen on the
/// thread that causes them (a vCPU's status write, the event loop's config refresh),
/// one at a time, each bounded by the frontend's reply timeout.
///
/// ```swift
/// let device = try VhostUserDevice(
///     socketPath: "/run/blk.sock", model: .block(), memory: memory, eventLoop: loop.remote
/// ) { line in print("integration-vmm: \(line)") }
/// let transport = try MmioTransport(device: device, interrupt: interrupt, eventLoop: loop.remote, memory: memory)
/// ```
public final class VhostUserDevice: VirtioDevice, @unchecked Sendable {
    // @unchecked: the frontend and every mutable field live in `state`, behind its mutex.
    /// Guest memory as this device shares it.
    public typealias Memory = GuestMemoryMap<MmapRegion>

    /// The back-end's socket path.
    public let socketPath: String
    /// How the device presents itself.
    public let model: VhostUserDeviceModel
    /// The guest memory regions and descriptors sent with `SET_MEM_TABLE`.
    public let share: VhostUserMemoryShare
    /// The back-end's virtio features (without the vhost-user-only bits).
    public let backendFeatures: UInt64
    /// The protocol features both sides agreed on.
    public let protocolFeatures: VhostUserProtocolFeatures

    /// The protocol features this front-end uses when the back-end offers them.
    public static let wantedProtocolFeatures: VhostUserProtocolFeatures = [
        .multiQueue, .replyAck, .config, .backendRequests, .status,
    ]
    /// `VHOST_F_LOG_ALL` (26): dirty logging for migration, which this front-end does not do.
    static let logAll: UInt64 = 1 << 26

    private struct State {
        var frontend: VhostUserFrontend?
        var config: [UInt8]
        /// Rings handed to the back-end since the last activation.
        var started: [Int] = []
        var interrupt: VirtioInterrupt?
        var markBroken: (@Sendable (String) -> Void)?
        var disconnected: String?
    }
    private let state: Mutex<State>
    /// Keeps the regions, and with them the descriptors and mappings `share` names, alive.
    private let memory: Memory
    private let onDisconnect: @Sendable (String) -> Void
    /// Our own call eventfds, used when the interrupt has no eventfd to give the back-end
    /// (a notifier is exactly a non-blocking eventfd with a queue index).
    private let calls: [QueueNotifier]
    /// The interrupt the fallback call eventfds raise (set while active).
    private let fallbackInterrupt = Mutex<VirtioInterrupt?>(nil)
    /// The back-end channel's front-end end (with `BACKEND_REQ`).
    private let backendChannel: BackendChannel?

    /// Connects to the back-end at `socketPath`, negotiates the protocol and reads its
    /// configuration space (when `model` says the back-end has one). The back-end must
    /// offer `VIRTIO_F_VERSION_1`, serve `model`'s queue count (when it can say) and,
    /// for a back-end configuration space, the `CONFIG` protocol feature.
    ///
    /// `onDisconnect` receives one line when the back-end goes away (event-loop thread).
    public init(
        socketPath: String, model: VhostUserDeviceModel, memory: Memory, eventLoop: RemoteEndpoint,
        replyTimeout: Duration = .seconds(5), onDisconnect: @escaping @Sendable (String) -> Void
    ) throws(VhostUserFrontendError) {
        func invalid(_ text: String) -> VhostUserFrontendError {
            VhostUserFrontendError(socketPath: socketPath, reason: .invalid(text))
        }
        guard !model.queueSizes.isEmpty, model.queueSizes.count <= Int(UInt8.max) else {
            throw invalid("a device has 1 to 255 queues, got \(model.queueSizes.count)")
        }
        self.socketPath = socketPath
        self.model = model
        self.memory = memory
        self.onDisconnect = onDisconnect
        share = try VhostUserMemoryShare(memory, socketPath: socketPath)
        let frontend = try VhostUserFrontend(connectingTo: socketPath, replyTimeout: replyTimeout)
        let features = try frontend.getFeatures()
        guard features & VirtioFeature.version1 != 0 else {
            throw invalid("the back-end does not offer VIRTIO_F_VERSION_1 (legacy devices are not supported)")
        }
        try frontend.setOwner()
        var agreed: VhostUserProtocolFeatures = []
        if features & VhostUserFeatures.protocolFeatures != 0 {
            agreed = try frontend.getProtocolFeatures().intersection(Self.wantedProtocolFeatures)
            try frontend.setProtocolFeatures(agreed)
            if agreed.contains(.multiQueue) {
                let served = try frontend.getQueueCount()
                guard served >= UInt64(model.queueSizes.count) else {
                    throw invalid("the back-end serves \(served) queue(s), the device needs \(model.queueSizes.count)")
                }
            }
        }
        backendFeatures = features & ~(VhostUserFeatures.protocolFeatures | Self.logAll)
        protocolFeatures = agreed
        var config: [UInt8] = []
        switch model.config {
        case .local(let bytes): config = bytes
        case .backend(let size):
            guard agreed.contains(.config) else {
                throw invalid("the back-end does not offer the CONFIG protocol feature")
            }
            config = try frontend.getConfig(offset: 0, size: UInt32(size))
        }
        if agreed.contains(.backendRequests) {
            let pair: UnixSocket.Pair
            do {
                pair = try UnixSocket.pair()
            } catch {
                throw VhostUserFrontendError(socketPath: socketPath, reason: .system(error))
            }
            // Bounded reads: a back-end that sends half a request must not stall the event loop.
            try? VhostUserFrontend.setReceiveTimeout(pair.first.descriptor.rawValue, .seconds(1))
            try frontend.call(.setBackendReqFd, descriptors: [pair.second.descriptor.rawValue])
            backendChannel = BackendChannel(pair.takeFirst())
        } else {
            backendChannel = nil
        }
        var calls: [QueueNotifier] = []
        do {
            for index in model.queueSizes.indices { calls.append(try QueueNotifier(queueIndex: index)) }
        } catch {
            throw VhostUserFrontendError(socketPath: socketPath, reason: .system(error))
        }
        self.calls = calls
        let connection = frontend.socketDescriptor
        state = Mutex(State(frontend: frontend, config: config))
        let watcher = BackendWatcher(
            connection: connection, backendChannel: backendChannel?.socket.descriptor.rawValue,
            calls: calls.map { $0.event.descriptor.rawValue }, device: self)
        do {
            _ = try eventLoop.add(watcher)
        } catch {
            throw invalid("event loop: \(error)")
        }
    }

    /// Why the device stopped working, once the back-end went away.
    public var disconnectReason: String? { state.withLock { $0.disconnected } }

    // MARK: VirtioDevice

    /// ``VhostUserDeviceModel/type``.
    public var deviceType: VirtioDeviceType { model.type }
    /// ``VhostUserDeviceModel/queueSizes``.
    public var queueMaximumSizes: [UInt16] { model.queueSizes }
    /// What the back-end offers, transport bits included.
    public var deviceFeatures: UInt64 { backendFeatures }
    /// None beyond the back-end's: it serves the rings, so only it knows what it supports.
    public var transportFeatures: UInt64 { 0 }
    /// The back-end reads the notifier eventfds.
    public var forwardsQueueNotifications: Bool { true }
    /// The configuration space's size.
    public var configSize: Int { state.withLock { $0.config.count } }

    /// Reads the cached configuration space (refreshed when the back-end reports a change).
    public func readConfig(offset: Int, size: Int) -> UInt64 {
        let bytes = state.withLock { $0.config }
        return Self.readLittleEndian(bytes, offset: offset, size: size)
    }

    /// A guest write: `SET_CONFIG` for a back-end configuration space, ignored for a local one.
    public func writeConfig(offset: Int, size: Int, value: UInt64) {
        guard case .backend = model.config else { return }
        var bytes: [UInt8] = []
        for index in 0..<size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
        let failure: String? = state.withLock { state -> String? in
            guard let frontend = state.frontend else { return nil }
            do {
                try frontend.setConfig(offset: UInt32(offset), bytes: bytes)
                for (index, byte) in bytes.enumerated() where offset + index < state.config.count {
                    state.config[offset + index] = byte
                }
                return nil
            } catch let error as VhostUserFrontendError {
                // A field the back-end keeps read-only: refused, the connection is fine.
                if case .protocolError(.refused) = error.reason { return nil }
                return lose(&state, error)
            } catch {
                return lose(&state, error)
            }
        }
        if let failure { announce(failure) }
    }

    /// `DRIVER_OK`: features, memory table, then each enabled ring (size, addresses, base 0,
    /// kick, call, enable); with `STATUS`, the driver's status.
    public func activate(_ activation: VirtioActivation<Memory>) throws(VirtioDeviceError) {
        var direct: Int32?
        if let group = activation.interrupt.group as? any EventInterruptSourceGroup {
            direct = group.eventDescriptor(index: activation.interrupt.index)
        }
        var newlyLost: String?
        let outcome: Result<Void, VirtioDeviceError> = state.withLock { state in
            guard let frontend = state.frontend else {
                // Lost before, and said so then.
                return .failure(.backend(state.disconnected ?? "vhost-user \(socketPath): the back-end is gone"))
            }
            do {
                let features =
                    activation.features | (protocolFeatures.isEmpty ? 0 : VhostUserFeatures.protocolFeatures)
                try frontend.setFeatures(features)
                try frontend.setMemoryTable(share.regions, descriptors: share.descriptors)
                var started: [Int] = []
                for (index, queue) in activation.queues.enumerated() where queue.ready {
                    guard index < activation.notifiers.count,
                        let descriptors = share.userAddress(of: queue.descriptorArea, length: UInt64(queue.size) * 16),
                        let available = share.userAddress(of: queue.driverArea, length: 6 + UInt64(queue.size) * 2),
                        let used = share.userAddress(of: queue.deviceArea, length: 6 + UInt64(queue.size) * 8)
                    else { return .failure(.queueNotReady(index)) }
                    let ring = UInt32(index)
                    try frontend.setVringSize(ring, UInt32(queue.size))
                    try frontend.setVringAddress(
                        VringAddress(
                            index: ring, flags: 0, descriptorTable: descriptors, usedRing: used,
                            availableRing: available, log: 0))
                    try frontend.setVringBase(ring, 0)
                    try frontend.setVringDescriptor(
                        .setVringKick, index: UInt8(index),
                        descriptor: activation.notifiers[index].event.descriptor.rawValue)
                    try frontend.setVringDescriptor(
                        .setVringCall, index: UInt8(index), descriptor: direct ?? calls[index].event.descriptor.rawValue
                    )
                    if !protocolFeatures.isEmpty { try frontend.setVringEnabled(ring, true) }
                    started.append(index)
                }
                if protocolFeatures.contains(.status) {
                    let status: DeviceStatus = [.acknowledge, .driver, .featuresOK, .driverOK]
                    try frontend.setStatus(UInt8(status.rawValue))
                }
                state.started = started
                state.interrupt = activation.interrupt
                state.markBroken = activation.markBroken
                return .success(())
            } catch {
                let line = lose(&state, error)
                newlyLost = line
                return .failure(.backend(line))
            }
        }
        if case .failure(let error) = outcome {
            if let newlyLost { announce(newlyLost) }
            throw error
        }
        if direct != nil {
            activation.interrupt.reportAlways(.usedBuffer)
        } else {
            fallbackInterrupt.withLock { $0 = activation.interrupt }
        }
        // A driver may have made buffers available before DRIVER_OK; a spurious kick is harmless.
        for index in activation.queues.indices where activation.queues[index].ready {
            try? activation.notifiers[index].event.signal()
        }
    }

    /// Never called: the back-end reads the kicks (``forwardsQueueNotifications``).
    public func queueNotified(_ index: Int) {}

    /// The driver reset the device: every started ring is disabled and stopped
    /// (`GET_VRING_BASE`); with `STATUS`, status 0.
    public func reset() {
        fallbackInterrupt.withLock { $0 = nil }
        let failure: String? = state.withLock { state in
            defer {
                state.started = []
                state.interrupt = nil
                state.markBroken = nil
            }
            guard let frontend = state.frontend else { return nil }
            do {
                for index in state.started {
                    if !protocolFeatures.isEmpty { try frontend.setVringEnabled(UInt32(index), false) }
                    _ = try frontend.getVringBase(UInt32(index))
                }
                if protocolFeatures.contains(.status) { try frontend.setStatus(0) }
                return nil
            } catch {
                return lose(&state, error)
            }
        }
        if let failure { announce(failure) }
    }

    // MARK: Back-end events (event loop)

    /// The connection failed: drop it and say why (once). Called with the state locked.
    private func lose(_ state: inout State, _ error: any Error) -> String {
        if let reason = state.disconnected { return reason }
        state.frontend = nil
        let line = "\(model.type): \(error)"
        state.disconnected = line
        return line
    }

    /// Marks the device broken (when the driver uses it) and tells the VMM, once per loss.
    private func announce(_ line: String) {
        let markBroken = state.withLock { state in
            defer { state.markBroken = nil }
            return state.markBroken
        }
        markBroken?(line)
        onDisconnect(line)
    }

    /// The connection became readable: the back-end hung up (or spoke out of turn).
    /// Returns false once the connection is gone (stop watching it).
    func connectionEvent() -> Bool {
        let lost: String? = state.withLock { state in
            guard let frontend = state.frontend else { return nil }
            guard frontend.isBroken() else { return nil }  // a reply another thread already read
            return lose(&state, VhostUserFrontendError(socketPath: socketPath, reason: .disconnected))
        }
        guard let lost else { return state.withLock { $0.frontend != nil } }
        announce(lost)
        return false
    }

    /// A request on the back-end channel. Replies first (the back-end may be waiting for the
    /// reply before it answers the front-end channel), then refreshes the configuration.
    /// Returns false when the channel is closed or broken (stop watching it).
    func backendChannelEvent() -> Bool {
        guard let channel = backendChannel else { return false }
        let message: VhostUserMessage
        do {
            guard let received = try channel.receiveRequest() else { return false }
            message = received
        } catch {
            // A request this front-end cannot read: the channel is out of step. Close it so
            // the back-end sees that; the device and its connection go on without it.
            channel.shutdown()
            return false
        }
        let isConfigChange = message.request == VhostUserBackendRequest.configChangeMsg.rawValue
        if message.flags.contains(.needReply) {
            channel.reply(to: message.request, status: isConfigChange ? 0 : 1)
        }
        if isConfigChange { refreshConfig() }
        return true
    }

    /// Re-reads a back-end configuration space and raises a configuration interrupt.
    private func refreshConfig() {
        guard case .backend(let size) = model.config else { return }
        let outcome: (VirtioInterrupt?, String?) = state.withLock { state in
            guard let frontend = state.frontend else { return (nil, nil) }
            do {
                state.config = try frontend.getConfig(offset: 0, size: UInt32(size))
                return (state.interrupt, nil)
            } catch {
                return (nil, lose(&state, error))
            }
        }
        if let failure = outcome.1 { announce(failure) }
        outcome.0?.signal(.configurationChange)
    }

    /// Fallback call eventfd `index` fired: raise the interrupt.
    func callEvent(_ index: Int) {
        guard index < calls.count else { return }
        _ = try? calls[index].event.wait()
        fallbackInterrupt.withLock { $0 }?.signal(.usedBuffer)
    }
}

/// The front-end's end of the back-end channel (`SET_BACKEND_REQ_FD`), where the back-end
/// sends requests (configuration changes) and the front-end replies.
final class BackendChannel: Sendable {
    let socket: UnixSocket

    init(_ socket: consuming UnixSocket) { self.socket = socket }

    /// Reads one request: nil when the back-end closed the channel; a malformed one throws.
    func receiveRequest() throws -> VhostUserMessage? {
        var bytes: [UInt8] = []
        guard try socket.receive(into: &bytes, upTo: VhostUserMessage.headerSize) else { return nil }
        let size = Int(try VhostUserMessage.decodeHeader(bytes).size)
        guard try socket.receive(into: &bytes, upTo: VhostUserMessage.headerSize + size) else { return nil }
        return try VhostUserMessage.decodeBackendRequest(bytes)
    }

    /// Shuts the channel down both ways (the back-end reads end of file).
    func shutdown() { _ = Glibc.shutdown(socket.descriptor.rawValue, Int32(SHUT_RDWR)) }

    /// Answers a request that asked for a reply; a back-end gone meanwhile is noticed on the connection.
    func reply(to request: UInt32, status: UInt64) {
        _ = try? socket.send(VhostUserMessage.backendReply(to: request, status: status).encoded())
    }
}

/// Watches one vhost-user device's descriptors on the event loop: the connection (hang-up),
/// the back-end channel (requests) and the fallback call eventfds.
final class BackendWatcher: EventSubscriber {
    static let connectionToken: UInt64 = 1 << 32
    static let backendChannelToken: UInt64 = 1 << 33

    let connection: Int32
    let backendChannel: Int32?
    let calls: [Int32]
    weak var device: VhostUserDevice?

    init(connection: Int32, backendChannel: Int32?, calls: [Int32], device: VhostUserDevice) {
        self.connection = connection
        self.backendChannel = backendChannel
        self.calls = calls
        self.device = device
    }

    func register(with ops: EventOps) throws {
        try ops.add(connection, events: .readable, data: Self.connectionToken)
        if let backendChannel { try ops.add(backendChannel, events: .readable, data: Self.backendChannelToken) }
        for (index, call) in calls.enumerated() { try ops.add(call, events: .readable, data: UInt64(index)) }
    }

    func process(_ event: ReadyEvent, with ops: EventOps) throws {
        guard let device else {
            for descriptor in ops.descriptors { try? ops.remove(descriptor) }
            return
        }
        switch event.data {
        case Self.connectionToken:
            if !device.connectionEvent() { try? ops.remove(connection) }
        case Self.backendChannelToken:
            if !device.backendChannelEvent(), let backendChannel { try? ops.remove(backendChannel) }
        default:
            device.callEvent(Int(event.data))
        }
    }
}
