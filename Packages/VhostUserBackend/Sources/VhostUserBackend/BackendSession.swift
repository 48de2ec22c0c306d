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

/// Why a front-end's request was refused. The daemon answers what it can (a failed
/// `REPLY_ACK`) and closes the connection; it never trusts the request.
///
/// ```swift
/// catch .ringIndex(let index) { print("ring \(index) does not exist") }
/// ```
public enum VhostUserBackendError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not a valid message.
    case protocolError(VhostUserError)
    /// A request this back-end does not serve (it did not offer the feature).
    case unsupported(UInt32)
    /// A request came with the wrong number of file descriptors.
    case descriptorCount(request: UInt32, expected: Int, got: Int)
    /// A ring index beyond the device's queues.
    case ringIndex(Int)
    /// A ring size that is not a power of two from 1 to 32768.
    case ringSize(index: Int, size: UInt32)
    /// A ring address the memory table does not map, or a ring outside guest memory.
    case ringAddress(index: Int)
    /// A memory region the back-end could not map (bad fd, offset, size, overlap).
    case memory(String)
    /// The device refused to start or failed.
    case device(String)

    /// One line for logs.
    public var description: String {
        switch self {
        case .protocolError(let error): "invalid message: \(error)"
        case .unsupported(let request): "request \(request) is not served by this back-end"
        case .descriptorCount(let request, let expected, let got):
            "request \(request) needs \(expected) file descriptor(s), got \(got)"
        case .ringIndex(let index): "ring \(index) does not exist"
        case .ringSize(let index, let size): "ring \(index): size \(size) is not a power of two from 1 to 32768"
        case .ringAddress(let index): "ring \(index): an address outside the shared memory"
        case .memory(let reason): "memory table: \(reason)"
        case .device(let reason): "device: \(reason)"
        }
    }
}

/// A descriptor the front-end sent (memory, kick, call), owned until nothing uses it.
///
/// ```swift
/// let received = ReceivedDescriptor(try memfd.descriptor.duplicate())
/// ```
public final class ReceivedDescriptor: Sendable {
    /// The descriptor, closed with this object.
    public let descriptor: FileDescriptor
    /// Takes ownership of `descriptor`.
    public init(_ descriptor: consuming FileDescriptor) { self.descriptor = descriptor }
    /// Its number.
    public var raw: Int32 { descriptor.rawValue }
}

/// The device's interrupts as a vhost-user back-end raises them: interrupt `i` is a write
/// to ring `i`'s call eventfd, when the front-end gave one. The device signals through a
/// ``VirtioInterrupt`` that routes queues, so a used buffer on one ring calls that ring only.
final class CallGroup: InterruptSourceGroup {
    private let calls: Mutex<[ReceivedDescriptor?]>

    let count: Int

    init(rings: Int) {
        count = rings
        calls = Mutex(Array(repeating: nil, count: rings))
    }

    func set(_ index: Int, _ call: ReceivedDescriptor?) { calls.withLock { $0[index] = call } }

    func enable() throws(InterruptError) {}
    func disable() throws(InterruptError) {}
    func update(index: Int, route: InterruptRoute, masked: Bool) throws(InterruptError) {
        throw .unsupportedRoute
    }
    func trigger(index: Int) throws(InterruptError) {
        // The descriptor stays open while written: the ring may be given a new call meanwhile.
        guard index >= 0, index < count, let call = calls.withLock({ $0[index] }) else { return }
        var one: UInt64 = 1
        // SAFETY: `one` is a local UInt64, alive for the call: write reads exactly its 8 bytes. The descriptor is
        // kept open through the write (not just to the last use of `call`), so its number cannot be reused meanwhile.
        let failed = withExtendedLifetime(call) { unsafe Glibc.write(call.raw, &one, 8) < 0 }
        if failed, errno != EAGAIN { throw .backend(code: errno) }
    }
}

/// Why the device stopped, as it reported it (a malformed ring), from any thread.
final class BrokenReason: Sendable {
    private let reason = Mutex<String?>(nil)
    var value: String? { reason.withLock { $0 } }
    func set(_ value: String?) { reason.withLock { $0 = value } }
}

/// One front-end connection's state, fed decoded messages: what vhost-user's front-end
/// requests do to a ``VhostUserBackend`` device. No socket here (the daemon reads and
/// writes), so the handling can be driven directly, by tests and by the fuzzer.
///
/// Rings are handed to the device as soon as it can run: whenever a ring starts
/// (size, addresses and kick known, and enabled), the device is activated with every
/// started ring; a device that needs more rings (`queueNotReady`) waits for them.
/// `GET_VRING_BASE` records every ring's next index, stops the device and returns the
/// ring's index.
///
/// ```swift
/// let session = VhostUserBackendSession(device: EntropyDevice<GuestMemoryMap<MmapRegion>>(), eventLoop: loop.remote)
/// var descriptors: [ReceivedDescriptor] = []
/// let reply = try session.handle(VhostUserMessage(.getFeatures), descriptors: &descriptors)
/// ```
public final class VhostUserBackendSession<Device: VhostUserBackend> {
    /// The device served.
    public let device: Device
    /// Protocol features this back-end offers: `MQ`, `REPLY_ACK`, and `CONFIG` when the device
    /// has a configuration space (QEMU warns about `CONFIG` on devices it keeps no config for).
    public var offeredProtocolFeatures: VhostUserProtocolFeatures {
        device.configSize > 0 ? [.multiQueue, .replyAck, .config] : [.multiQueue, .replyAck]
    }
    /// The features the front-end acknowledged (`SET_FEATURES`).
    public private(set) var features: UInt64 = 0
    /// The protocol features the front-end acknowledged.
    public private(set) var protocolFeatures: VhostUserProtocolFeatures = []
    /// Whether the device is running.
    public private(set) var isActive = false

    struct Ring {
        var size: UInt16 = 0
        var address: VringAddress?
        var base: UInt16 = 0
        var kick: ReceivedDescriptor?
        var enabled = false
    }
    private(set) var rings: [Ring]
    private var memory: GuestMemoryMap<MmapRegion>?
    private var table: [VhostUserMemoryRegion] = []
    private let calls: CallGroup
    private let eventLoop: RemoteEndpoint
    private let broken = BrokenReason()

    /// A session serving `device`; its activations run on `eventLoop`'s thread.
    public init(device: Device, eventLoop: RemoteEndpoint) {
        self.device = device
        self.eventLoop = eventLoop
        rings = Array(repeating: Ring(), count: device.queueMaximumSizes.count)
        calls = CallGroup(rings: device.queueMaximumSizes.count)
    }

    /// Why the device stopped (a ring fault it reported), if it did.
    public var brokenReason: String? { broken.value }

    /// The kick descriptor of each ring that has one (the daemon watches these).
    var kicks: [(index: Int, kick: ReceivedDescriptor)] {
        rings.enumerated().compactMap { index, ring in ring.kick.map { (index, $0) } }
    }

    /// A kick on ring `index` (event loop): the device serves what the driver made available.
    func kicked(_ index: Int) {
        guard index < rings.count, let kick = rings[index].kick else { return }
        var value: UInt64 = 0
        // SAFETY: `value` is a local UInt64, alive for the call: read writes at most its 8 bytes.
        _ = unsafe Glibc.read(kick.raw, &value, 8)
        if isActive { device.queueNotified(index) }
    }

    /// Stops the device (the front-end went away).
    public func stop() {
        if isActive { device.reset() }
        isActive = false
    }

    /// Handles one request with the descriptors that came with it (taken from
    /// `descriptors`); returns the reply to send, if any.
    public func handle(
        _ message: VhostUserMessage, descriptors: inout [ReceivedDescriptor]
    ) throws(VhostUserBackendError) -> VhostUserMessage? {
        guard let request = VhostUserRequest(rawValue: message.request) else {
            throw .protocolError(.unknownRequest(message.request))
        }
        func need(_ count: Int) throws(VhostUserBackendError) {
            guard descriptors.count == count else {
                throw .descriptorCount(request: request.rawValue, expected: count, got: descriptors.count)
            }
        }
        func reply(_ payload: VhostUserPayload) -> VhostUserMessage {
            VhostUserMessage(request, flags: .reply, payload: payload)
        }
        let fdRequests: [VhostUserRequest] = [.setMemTable, .setVringKick, .setVringCall, .setVringErr]
        if !fdRequests.contains(request) { try need(0) }
        switch (request, message.payload) {
        case (.getFeatures, _):
            return reply(.u64(device.deviceFeatures | device.transportFeatures | VhostUserFeatures.protocolFeatures))
        case (.setFeatures, .u64(let value)):
            features = value
        case (.setOwner, _):
            break
        case (.resetOwner, _):
            stop()
            features = 0
        case (.getProtocolFeatures, _):
            return reply(.u64(offeredProtocolFeatures.rawValue))
        case (.setProtocolFeatures, .u64(let value)):
            protocolFeatures = VhostUserProtocolFeatures(rawValue: value).intersection(offeredProtocolFeatures)
        case (.getQueueNum, _):
            return reply(.u64(UInt64(rings.count)))
        case (.setMemTable, .memoryTable(let regions)):
            try need(regions.count)
            try setMemoryTable(regions, &descriptors)
        case (.setVringNum, .vringState(let state)):
            let index = try ringIndex(state.index)
            // The front-end picks the size (QEMU's vhost-user-rng uses 1024 whatever the device
            // says); any power of two a split ring allows is served.
            guard state.num > 0, state.num <= 32768, state.num & (state.num - 1) == 0 else {
                throw .ringSize(index: index, size: state.num)
            }
            rings[index].size = UInt16(state.num)
        case (.setVringAddr, .vringAddress(let address)):
            rings[try ringIndex(address.index)].address = address
        case (.setVringBase, .vringState(let state)):
            rings[try ringIndex(state.index)].base = UInt16(truncatingIfNeeded: state.num)
        case (.getVringBase, .vringState(let state)):
            let index = try ringIndex(state.index)
            if isActive {
                // Record where every ring goes on before the device forgets its queues.
                if let queues = device.activeQueues {
                    for (ring, queue) in zip(rings.indices, queues) where queue.ready {
                        rings[ring].base = queue.nextAvailable
                    }
                }
                stop()
            }
            rings[index].kick = nil
            rings[index].enabled = false
            calls.set(index, nil)
            return reply(.vringState(VringState(index: UInt32(index), num: UInt32(rings[index].base))))
        case (.setVringKick, .u64(let value)), (.setVringCall, .u64(let value)), (.setVringErr, .u64(let value)):
            guard let (ringByte, hasDescriptor) = VringDescriptorPayload.decode(value) else {
                throw .protocolError(.sizeMismatch(request: request.rawValue, size: 8))
            }
            let index = try ringIndex(UInt32(ringByte))
            try need(hasDescriptor ? 1 : 0)
            let shared = hasDescriptor ? descriptors.removeFirst() : nil
            switch request {
            case .setVringKick:
                rings[index].kick = shared
                // Without VHOST_USER_F_PROTOCOL_FEATURES a ring is enabled by its kick.
                if features & VhostUserFeatures.protocolFeatures == 0 { rings[index].enabled = true }
                try startIfReady()
            case .setVringCall: calls.set(index, shared)
            default: break  // errors are not reported anywhere yet
            }
        case (.setVringEnable, .vringState(let state)):
            let index = try ringIndex(state.index)
            rings[index].enabled = state.num == 1
            if state.num == 1 { try startIfReady() }
        case (.getConfig, .config(let window)):
            guard protocolFeatures.contains(.config) else { throw .unsupported(request.rawValue) }
            var bytes = [UInt8](repeating: 0, count: window.bytes.count)
            for index in bytes.indices where Int(window.offset) + index < device.configSize {
                bytes[index] = UInt8(truncatingIfNeeded: device.readConfig(offset: Int(window.offset) + index, size: 1))
            }
            return reply(.config(VhostUserConfig(offset: window.offset, bytes: bytes)))
        case (.setConfig, .config(let window)):
            guard protocolFeatures.contains(.config) else { throw .unsupported(request.rawValue) }
            for (index, byte) in window.bytes.enumerated() where Int(window.offset) + index < device.configSize {
                device.writeConfig(offset: Int(window.offset) + index, size: 1, value: UInt64(byte))
            }
        default:
            throw .unsupported(request.rawValue)
        }
        return nil
    }

    private func ringIndex(_ value: UInt32) throws(VhostUserBackendError) -> Int {
        guard value < UInt32(rings.count) else { throw .ringIndex(Int(min(value, UInt32(Int32.max)))) }
        return Int(value)
    }

    /// Maps every region of a new memory table; the old mapping goes once nothing uses it.
    private func setMemoryTable(
        _ regions: [VhostUserMemoryRegion], _ descriptors: inout [ReceivedDescriptor]
    ) throws(VhostUserBackendError) {
        var mapped: [MmapRegion] = []
        for region in regions {
            let descriptor = descriptors.removeFirst()
            do {
                mapped.append(
                    try MmapRegion.file(
                        at: GuestAddress(region.guestAddress), size: region.size, descriptor: descriptor.descriptor,
                        offset: region.mmapOffset))
            } catch {
                throw .memory("region at 0x\(String(region.guestAddress, radix: 16)): \(error)")
            }
        }
        do {
            let map = try GuestMemoryMap(regions: mapped)
            stop()
            memory = map
            table = regions
        } catch {
            throw .memory("\(error)")
        }
    }

    /// The guest address of front-end address `address`, when `length` bytes from it lie in one region.
    private func guestAddress(of address: UInt64, length: UInt64) -> GuestAddress? {
        for region in table where address >= region.userAddress {
            let offset = address - region.userAddress
            if offset <= region.size, length <= region.size - offset {
                return GuestAddress(region.guestAddress + offset)
            }
        }
        return nil
    }

    /// Activates the device with every started ring, if it can run with them.
    private func startIfReady() throws(VhostUserBackendError) {
        guard let memory else { return }
        var queues: [Virtqueue] = []
        for (index, ring) in rings.enumerated() {
            let maximum = max(device.queueMaximumSizes[index], ring.size)
            let started = ring.kick != nil && ring.enabled && ring.address != nil && ring.size > 0
            guard started, let address = ring.address else {
                do { queues.append(try Virtqueue(maximumSize: maximum)) } catch { throw .device("\(error)") }
                continue
            }
            let size = UInt64(ring.size)
            guard let descriptors = guestAddress(of: address.descriptorTable, length: size * 16),
                let available = guestAddress(of: address.availableRing, length: 6 + size * 2),
                let used = guestAddress(of: address.usedRing, length: 6 + size * 8)
            else { throw .ringAddress(index: index) }
            do {
                let usedIndex = try memory.readLittleEndian(UInt16.self, from: GuestAddress(used.rawValue + 2))
                var queue = try Virtqueue(
                    state: QueueState(
                        maximumSize: maximum, format: .split, size: ring.size, ready: true,
                        descriptorArea: descriptors, driverArea: available, deviceArea: used,
                        nextAvailable: ring.base, nextUsed: usedIndex, availableWrapCounter: true,
                        usedWrapCounter: true, eventIndexEnabled: features & VirtioFeature.ringEventIndex != 0,
                        notificationsEnabled: true))
                try queue.validate(in: memory)
                queue.ready = true
                queues.append(queue)
            } catch {
                throw .ringAddress(index: index)
            }
        }
        if isActive { device.reset() }
        isActive = false
        broken.set(nil)
        let activation = VirtioActivation(
            memory: memory, features: features & ~VhostUserFeatures.protocolFeatures, queues: queues,
            interrupt: VirtioInterrupt(group: calls, index: 0, routesQueues: true), eventLoop: eventLoop,
            markBroken: { [broken] reason in broken.set(reason) })
        do {
            try device.activate(activation)
            isActive = true
        } catch .queueNotReady {
            return  // the device needs a ring that is not started yet
        } catch {
            throw .device("\(error)")
        }
        // Buffers the driver made available before the ring started are served now.
        for (index, ring) in rings.enumerated() where ring.kick != nil && ring.enabled { device.queueNotified(index) }
    }
}
