// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Synchronization
import VMMSysUtil
import VMMemory
import VirtioQueue

/// virtio-net feature bits (virtio 1.2, section 5.1.3) this device knows.
///
/// ```swift
/// let tso = transport.driverFeatures & NetFeature.guestTSO4 != 0
/// ```
public enum NetFeature {
    /// `VIRTIO_NET_F_CSUM` (0): the device takes frames with a partial checksum.
    public static let checksum: UInt64 = 1 << 0
    /// `VIRTIO_NET_F_GUEST_CSUM` (1): the driver takes frames with a partial checksum.
    public static let guestChecksum: UInt64 = 1 << 1
    /// `VIRTIO_NET_F_MTU` (3): configuration space reports the MTU.
    public static let mtu: UInt64 = 1 << 3
    /// `VIRTIO_NET_F_MAC` (5): configuration space holds the MAC address.
    public static let mac: UInt64 = 1 << 5
    /// `VIRTIO_NET_F_GUEST_TSO4` (7): the driver takes TCPv4 segments larger than the MTU.
    public static let guestTSO4: UInt64 = 1 << 7
    /// `VIRTIO_NET_F_GUEST_TSO6` (8): the driver takes TCPv6 segments larger than the MTU.
    public static let guestTSO6: UInt64 = 1 << 8
    /// `VIRTIO_NET_F_HOST_TSO4` (11): the device takes TCPv4 segments larger than the MTU.
    public static let hostTSO4: UInt64 = 1 << 11
    /// `VIRTIO_NET_F_HOST_TSO6` (12): the device takes TCPv6 segments larger than the MTU.
    public static let hostTSO6: UInt64 = 1 << 12
    /// `VIRTIO_NET_F_MRG_RXBUF` (15): a received frame may span several receive chains.
    public static let mergeableReceiveBuffers: UInt64 = 1 << 15
    /// `VIRTIO_NET_F_STATUS` (16): configuration space reports the link status.
    public static let status: UInt64 = 1 << 16
}

/// virtio-net (virtio 1.2, section 5.1) over a Linux tap interface.
///
/// Queue 0 receives (tap → guest), queue 1 transmits (guest → tap); no control queue and
/// no multiqueue. Frames move between guest buffers and the tap with `readv`/`writev`,
/// no copy in between. Each frame carries the 12-byte `virtio_net_hdr_v1`, which the tap
/// understands as is, so checksum and TCP segmentation offloads pass through: the tap is
/// told (`TUNSETOFFLOAD`) which unfinished frames the guest accepted.
///
/// Receiving runs on the activation's event loop, which watches the tap. When the guest
/// has no receive buffers the device stops watching (the loop does not spin on a readable
/// tap) until the driver notifies queue 0. Each wake-up moves at most ``receiveBudget``
/// frames and each notification at most ``transmitBudget``, so one busy device does not
/// starve the loop's other devices.
///
/// Everything the guest supplies is checked: transmit chains with writable buffers,
/// frames shorter than the header or longer than ``maximumFrameLength``, and receive
/// chains with readable buffers or room for less than a header are returned unused and
/// counted; malformed rings mark the device broken.
///
/// ```swift
/// let tap = try Tap(name: "vmtap0")
/// let net = try NetDevice<GuestMemoryMap<MmapRegion>>(tap: tap, mac: MacAddress(0x52, 0x54, 0, 0x12, 0x34, 0x56))
/// let transport = try MmioTransport(device: net, interrupt: interrupt, eventLoop: loop.remote, memory: memory)
/// // later
/// print(net.receivedFrames, net.transmittedFrames, net.receiveDrops, net.transmitDrops)
/// ```
public final class NetDevice<Memory: GuestMemory>: VirtioDevice, Sendable {
    /// The receive queue's index.
    public static var receiveQueue: Int { 0 }
    /// The transmit queue's index.
    public static var transmitQueue: Int { 1 }
    /// Bytes of the virtio-net header before each frame.
    public static var headerSize: Int { NetFrame.headerSize }
    /// The largest frame (without the header) sent or received: 64 KiB plus an Ethernet
    /// header with a VLAN tag. Larger transmit frames are dropped.
    public static var maximumFrameLength: Int { NetFrame.maximumFrameLength }
    /// `VIRTIO_NET_S_LINK_UP` in the configuration's status field.
    public static var linkUpStatus: UInt16 { 1 }

    /// The tap the frames go through.
    public let tap: Tap
    /// The guest's MAC address.
    public let mac: MacAddress
    /// The MTU offered with `VIRTIO_NET_F_MTU`, or nil to leave the guest its default.
    public let mtu: UInt16?
    /// Entries of each queue at most.
    public let queueSize: UInt16
    /// Frames moved from the tap per wake-up.
    public let receiveBudget: Int
    /// Transmit chains sent per notification before the loop serves others.
    public let transmitBudget: Int

    private let state = Mutex<NetState<Memory>>(NetState())
    private let shared = NetShared()
    private let control: EventFd

    /// A device sending and receiving through `tap` as `mac`. With `mtu` (68 or more) the
    /// device offers `VIRTIO_NET_F_MTU`; give the tap interface the same MTU.
    public init(
        tap: Tap, mac: MacAddress, mtu: UInt16? = nil, queueSize: UInt16 = 256, receiveBudget: Int = 64,
        transmitBudget: Int = 256
    ) throws(VirtioDeviceError) {
        if let mtu, mtu < 68 { throw .backend("MTU \(mtu) is below the IPv4 minimum of 68") }
        guard receiveBudget > 0, transmitBudget > 0 else { throw .backend("budgets must be positive") }
        self.tap = tap
        self.mac = mac
        self.mtu = mtu
        self.queueSize = queueSize
        self.receiveBudget = receiveBudget
        self.transmitBudget = transmitBudget
        do {
            control = try EventFd(flags: .nonBlocking)
        } catch {
            throw .backend("control eventfd: \(error)")
        }
    }

    deinit {
        let previous = state.withLock { state in
            defer { state.engine = nil }
            return state.engine.map { ($0.subscriber, $0.activation.eventLoop) }
        }
        if let (subscriber, loop) = previous { Self.remove(subscriber, from: loop) }
    }

    // MARK: Statistics

    /// Frames delivered to the guest (from the tap).
    public var receivedFrames: UInt64 { shared.receivedFrames.load(ordering: .relaxed) }
    /// Bytes of those frames, headers not counted.
    public var receivedBytes: UInt64 { shared.receivedBytes.load(ordering: .relaxed) }
    /// Frames the guest sent that the tap took.
    public var transmittedFrames: UInt64 { shared.transmittedFrames.load(ordering: .relaxed) }
    /// Bytes of those frames, headers not counted.
    public var transmittedBytes: UInt64 { shared.transmittedBytes.load(ordering: .relaxed) }
    /// Frames read from the tap that the guest's buffers could not hold.
    public var receiveDrops: UInt64 { shared.receiveDrops.load(ordering: .relaxed) }
    /// Transmit chains not sent: malformed (writable buffers, shorter than the header,
    /// longer than ``maximumFrameLength``, too fragmented) or refused by the tap.
    public var transmitDrops: UInt64 { shared.transmitDrops.load(ordering: .relaxed) }
    /// Chains refused for their layout: receive chains with device-readable buffers or room
    /// for less than a header (returned used and empty), transmit chains with writable buffers.
    public var rejectedChains: UInt64 { shared.rejectedChains.load(ordering: .relaxed) }
    /// Times the loop woke the device to read the tap.
    public var receiveWakeups: UInt64 { shared.receiveWakeups.load(ordering: .relaxed) }
    /// The link status reported to the guest: down once the tap failed (its interface deleted).
    public var isLinkUp: Bool { shared.linkUp.load(ordering: .relaxed) }
    /// The tap's last failure, if any.
    public var lastTapError: TapError? { shared.lastTapError.withLock { $0 } }

    /// The tap offloads matching what a driver accepted: the kernel may hand the guest
    /// partially checksummed frames with `GUEST_CSUM`, and large TCP segments with
    /// `GUEST_TSO4`/`GUEST_TSO6` on top (segmentation needs the checksum offload).
    public static func tapOffloads(forGuestFeatures features: UInt64) -> TapOffloads {
        guard features & NetFeature.guestChecksum != 0 else { return [] }
        var offloads = TapOffloads.checksum
        if features & NetFeature.guestTSO4 != 0 { offloads.insert(.tcp4) }
        if features & NetFeature.guestTSO6 != 0 { offloads.insert(.tcp6) }
        return offloads
    }

    // MARK: VirtioDevice

    /// ``VirtioDeviceType/net``.
    public var deviceType: VirtioDeviceType { .net }
    /// Receive and transmit queues.
    public var queueMaximumSizes: [UInt16] { [queueSize, queueSize] }

    /// MAC, STATUS, the checksum and TSO offloads both ways, mergeable receive buffers,
    /// and MTU when one was given.
    public var deviceFeatures: UInt64 {
        var features =
            NetFeature.mac | NetFeature.status | NetFeature.checksum | NetFeature.guestChecksum
            | NetFeature.guestTSO4 | NetFeature.guestTSO6 | NetFeature.hostTSO4 | NetFeature.hostTSO6
            | NetFeature.mergeableReceiveBuffers
        if mtu != nil { features |= NetFeature.mtu }
        return features
    }

    /// `mac[6]`, `status`, `max_virtqueue_pairs` (1) and, with an MTU, `mtu`.
    public var configSize: Int { mtu == nil ? 10 : 12 }

    /// Reads the configuration: the MAC, the link status, one queue pair, the MTU.
    public func readConfig(offset: Int, size: Int) -> UInt64 {
        var config = ConfigSpace()
        config.append(bytes: mac.bytes)
        config.append(isLinkUp ? Self.linkUpStatus : 0)
        config.append(UInt16(1))
        if let mtu { config.append(mtu) }
        return Self.readLittleEndian(config.bytes, offset: offset, size: size)
    }

    /// Ignored: a virtio 1.x driver changes nothing here (the MAC is set through the
    /// control queue, which this device does not have).
    public func writeConfig(offset: Int, size: Int, value: UInt64) {}

    /// Sets the tap's offloads from the accepted features and starts watching the tap on
    /// the activation's event loop.
    public func activate(_ activation: VirtioActivation<Memory>) throws(VirtioDeviceError) {
        guard activation.queues.count == 2, activation.queues[0].ready else { throw .queueNotReady(0) }
        guard activation.queues[1].ready else { throw .queueNotReady(1) }
        do {
            try tap.setOffloads(Self.tapOffloads(forGuestFeatures: activation.features))
        } catch {
            throw .backend("\(error)")
        }
        var activation = activation
        // Receive buffers are taken when frames arrive; kicks for each refill are not needed
        // until the device runs out (then it asks for one).
        do {
            try activation.queues[0].disableNotification(in: activation.memory)
        } catch {
            throw .queue(error)
        }
        shared.linkUp.store(true, ordering: .relaxed)
        let (subscriber, previous) = state.withLock { state in
            state.generation += 1
            let subscriber = TapSubscriber(
                device: self, generation: state.generation, tapDescriptor: tap.descriptor.rawValue,
                controlDescriptor: control.descriptor.rawValue)
            let previous = state.engine.map { ($0.subscriber, $0.activation.eventLoop) }
            state.engine = NetEngine(
                activation: activation, generation: state.generation, subscriber: subscriber, tap: tap, shared: shared)
            return (subscriber, previous)
        }
        if let (old, loop) = previous { Self.remove(old, from: loop) }
        let markBroken = activation.markBroken
        do {
            try activation.eventLoop.post { [self] manager in
                // Drop a resume request of an earlier activation; here, on the loop thread, because
                // activate runs on a vCPU thread, which should make no calls beyond signalling.
                _ = try? self.control.wait()
                do {
                    try manager.add(subscriber)
                } catch {
                    markBroken("virtio-net: cannot watch the tap: \(error)")
                }
            }
        } catch {
            state.withLock { $0.engine = nil }
            throw .backend("event loop: \(error)")
        }
    }

    /// Transmit notifications send frames; receive notifications resume a paused device.
    public func queueNotified(_ index: Int) {
        switch index {
        case Self.transmitQueue:
            let backlog = state.withLock { state -> Bool in
                guard state.engine != nil else { return false }
                let more = state.engine!.transmit(budget: transmitBudget)
                state.engine!.transmitBacklog = state.engine!.transmitBacklog || more
                return more
            }
            if backlog { try? control.signal() }
        case Self.receiveQueue:
            let resume = state.withLock { state -> Bool in
                guard state.engine?.receivePaused == true, state.engine?.resumeRequested == false else { return false }
                state.engine!.resumeRequested = true
                return true
            }
            // The loop changes what it watches from the device's own subscriber: signal it.
            if resume { try? control.signal() }
        default:
            break
        }
    }

    /// The receive and transmit queues while active.
    public var activeQueues: [Virtqueue]? { state.withLock { $0.engine?.activation.queues } }

    /// Stops the data path: receive buffers held for later frames are forgotten (the
    /// driver reclaims everything on reset) and the tap is no longer watched.
    public func reset() {
        let previous = state.withLock { state in
            defer { state.engine = nil }
            return state.engine.map { ($0.subscriber, $0.activation.eventLoop) }
        }
        if let (subscriber, loop) = previous { Self.remove(subscriber, from: loop) }
    }

    // MARK: Event loop callbacks (loop thread)

    /// The tap is ready (or failed).
    func tapReady(generation: UInt64, events: Epoll.Events) -> TapInterest {
        state.withLock { state in
            guard state.engine?.generation == generation else { return .closed }
            if !events.contains(.readable) && !events.isDisjoint(with: [.error, .hangUp]) {
                // A tap reports an error only once its interface is gone.
                state.engine!.failTap(SystemError("epoll", errno: NetFrame.tapDetached))
                return .closed
            }
            return state.engine!.receive(budget: receiveBudget)
        }
    }

    /// The control eventfd fired: a receive resume or a transmit backlog is pending.
    func controlSignalled(generation: UInt64) -> TapInterest {
        _ = try? control.wait()
        let (interest, backlog) = state.withLock { state -> (TapInterest, Bool) in
            guard state.engine?.generation == generation else { return (.closed, false) }
            var more = false
            if state.engine!.transmitBacklog {
                state.engine!.transmitBacklog = false
                more = state.engine!.transmit(budget: transmitBudget)
                state.engine!.transmitBacklog = more
            }
            let interest =
                state.engine!.resumeRequested
                ? state.engine!.resumeReceive(budget: receiveBudget) : state.engine!.interest
            return (interest, more)
        }
        if backlog { try? control.signal() }
        return interest
    }

    /// Queues the removal of an activation's subscriber on its loop.
    private static func remove(_ subscriber: TapSubscriber<Memory>, from loop: RemoteEndpoint) {
        try? loop.post { manager in
            if let id = subscriber.id { _ = try? manager.remove(id) }
        }
    }
}

/// The device's lock-protected state.
struct NetState<Memory: GuestMemory> {
    /// The current activation's data path.
    var engine: NetEngine<Memory>?
    /// Counts activations, so callbacks of an earlier one are recognised and ignored.
    var generation: UInt64 = 0
}
