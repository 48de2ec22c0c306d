// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import Synchronization
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import VirtioQueue

/// Frame sizes shared by the device's paths.
enum NetFrame {
    /// `virtio_net_hdr_v1`: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers.
    static var headerSize: Int { 12 }
    /// Offset of `num_buffers` in the header.
    static var numBuffersOffset: Int { 10 }
    /// The largest Ethernet frame moved: 64 KiB (the kernel's GSO limit) plus an Ethernet
    /// header with one VLAN tag.
    static var maximumFrameLength: Int { 65_536 + 18 }
    /// Receive room that holds any frame with its header.
    static var receiveRoom: Int { headerSize + maximumFrameLength }
    /// `EBADFD` (77, not exported to Swift): what a tap file answers once its interface is gone.
    static var tapDetached: Errno { Errno(rawValue: 77) }
}

/// What the event loop should watch on the tap after the device handled an event.
enum TapInterest: Equatable {
    /// Readability: the device has (or will take) receive buffers.
    case readable
    /// Nothing: the guest gave no receive buffers; a queue 0 notification resumes.
    case paused
    /// Stop watching: the tap failed, the device broke, or this activation ended.
    case closed
}

/// Counters and host-side state the device shares with its engine; thread-safe.
final class NetShared: Sendable {
    let receivedFrames = Atomic<UInt64>(0)
    let receivedBytes = Atomic<UInt64>(0)
    let transmittedFrames = Atomic<UInt64>(0)
    let transmittedBytes = Atomic<UInt64>(0)
    let receiveDrops = Atomic<UInt64>(0)
    let transmitDrops = Atomic<UInt64>(0)
    let rejectedChains = Atomic<UInt64>(0)
    let receiveWakeups = Atomic<UInt64>(0)
    let linkUp = Atomic<Bool>(true)
    let lastTapError = Mutex<TapError?>(nil)

    func count(_ counter: borrowing Atomic<UInt64>, _ amount: Int = 1) {
        counter.add(UInt64(amount), ordering: .relaxed)
    }
}

/// One activation's data path: the queues, the receive buffers taken from the guest but
/// not yet filled, and the reusable I/O vectors. Lives in the device's lock; every
/// method runs on the event loop thread except creation.
struct NetEngine<Memory: GuestMemory> {
    var activation: VirtioActivation<Memory>
    let generation: UInt64
    let subscriber: TapSubscriber<Memory>
    let tapDescriptor: Int32
    let tapName: String
    let shared: NetShared
    /// `VIRTIO_NET_F_MRG_RXBUF`: a frame may span receive chains.
    let mergeable: Bool
    /// `VIRTIO_NET_F_GUEST_CSUM`: the header's checksum flags may reach the guest.
    let guestChecksum: Bool
    /// The receive frame's guest buffers, then 64 host bytes that tell a frame too big
    /// for them (a `readv` count above their size). Kept across frames: no allocation.
    var receiveVectors = GuestIOVectors(capacity: GuestIOVectors.limit, spill: 64)
    /// The transmit frame's guest buffers, kept across frames.
    var transmitVectors = GuestIOVectors(capacity: GuestIOVectors.limit)

    /// Receive chains popped for the next frames, oldest first.
    var held: [DescriptorChain] = []
    /// Their writable bytes, each chain counted up to ``NetFrame/receiveRoom``.
    var heldRoom = 0
    /// Ring descriptors they occupy: all of the ring means the guest cannot add more.
    var heldRingDescriptors = 0
    /// Bytes of each held chain the current frame's vectors cover.
    var frameSpans: [Int] = []
    /// No receive buffers: the tap is not watched until the driver notifies queue 0.
    var receivePaused = false
    /// The driver notified queue 0 while paused; the loop resumes at its next turn.
    var resumeRequested = false
    /// The transmit budget ran out with chains left; the loop continues at its next turn.
    var transmitBacklog = false
    /// The device was marked broken: no more queue work until reset.
    var broken = false
    /// The tap failed (detached or deleted): reads stopped, the link is reported down.
    var tapFailed = false

    init(
        activation: VirtioActivation<Memory>, generation: UInt64, subscriber: TapSubscriber<Memory>, tap: Tap,
        shared: NetShared
    ) {
        self.activation = activation
        self.generation = generation
        self.subscriber = subscriber
        tapDescriptor = tap.descriptor.rawValue
        tapName = tap.name
        self.shared = shared
        mergeable = activation.negotiated(NetFeature.mergeableReceiveBuffers)
        guestChecksum = activation.negotiated(NetFeature.guestChecksum)
        held.reserveCapacity(Int(activation.queues[0].size))
        frameSpans.reserveCapacity(Int(activation.queues[0].size))
    }

    /// What the tap registration should be now.
    var interest: TapInterest {
        if broken || tapFailed { return .closed }
        return receivePaused ? .paused : .readable
    }

    // MARK: Transmit

    /// Sends up to `budget` chains of the transmit queue; returns whether chains may remain.
    mutating func transmit(budget: Int) -> Bool {
        guard !broken else { return false }
        // Moved out (not copied) so the closure below can use it while `activation` serves:
        // the arrays stay uniquely referenced and keep their capacity.
        var vectors = transmitVectors
        transmitVectors = GuestIOVectors()
        defer { transmitVectors = vectors }
        let descriptor = tapDescriptor
        let shared = shared
        var served = 0
        var failure: Errno?
        let healthy = activation.serveQueue(1, maximumChains: budget) { chain, memory throws(VirtioDeviceError) in
            served += 1
            if let error = Self.send(chain, memory, &vectors, descriptor, shared) { failure = error }
            return 0  // the device writes nothing into transmit buffers
        }
        if !healthy {
            broken = true
            return false
        }
        if let failure {
            let error = SystemError("writev", errno: failure)
            if failure == NetFrame.tapDetached {
                failTap(error)
            } else {
                shared.lastTapError.withLock { $0 = .system(interface: tapName, error) }
            }
        }
        return served == budget
    }

    /// Writes one frame to the tap, or drops it; returns the error of a failed write.
    /// `EAGAIN` drops too: a tap write takes the frame or fails at once (the kernel never
    /// blocks a tap writer on a full queue in practice), so keeping the chain would only
    /// stall the guest's transmit ring.
    static func send(
        _ chain: DescriptorChain, _ memory: Memory, _ vectors: inout GuestIOVectors, _ descriptor: Int32,
        _ shared: NetShared
    ) -> Errno? {
        let length = chain.readableLength
        guard chain.readableCount == chain.descriptors.count,
            length >= UInt64(NetFrame.headerSize), length <= UInt64(NetFrame.receiveRoom)
        else {
            if chain.readableCount != chain.descriptors.count { shared.count(shared.rejectedChains) }
            shared.count(shared.transmitDrops)
            return nil
        }
        vectors.removeAll()
        for buffer in chain.readable where buffer.length > 0 {
            guard vectors.append(memory, buffer.address, Int(buffer.length)) == Int(buffer.length) else {
                // Over a thousand pieces for one frame: no driver does that.
                shared.count(shared.transmitDrops)
                return nil
            }
        }
        do {
            _ = try vectors.write(to: descriptor)
            shared.count(shared.transmittedFrames)
            shared.count(shared.transmittedBytes, Int(length) - NetFrame.headerSize)
            return nil
        } catch {
            shared.count(shared.transmitDrops)
            return error.errno
        }
    }

    // MARK: Receive

    /// Moves up to `budget` frames from the tap into receive buffers.
    mutating func receive(budget: Int) -> TapInterest {
        guard !broken, !tapFailed else { return interest }
        shared.count(shared.receiveWakeups)
        var returned = 0
        do throws(VirtioDeviceError) {
            frames: for _ in 0..<budget {
                if try !takeReceiveBuffers(returned: &returned) {
                    if try waitForReceiveBuffers() { continue }
                    break
                }
                switch try readFrame() {
                case .empty: break frames
                case .dropped: continue
                case .delivered(let chains): returned += chains
                case .failed(let error):
                    failTap(error)
                    break frames
                }
            }
            if returned > 0,
                try queueCall({ () throws(VirtioQueueError) in
                    try activation.queues[0].needsNotification(activation.memory)
                })
            {
                activation.interrupt.signal(.usedBuffer, queue: 0)
            }
        } catch {
            broken = true
            activation.markBroken("receive queue: \(error)")
        }
        return interest
    }

    /// The driver refilled queue 0 after the device paused: watch the tap again and read.
    mutating func resumeReceive(budget: Int) -> TapInterest {
        resumeRequested = false
        guard receivePaused, !broken else { return interest }
        receivePaused = false
        do throws(VirtioDeviceError) {
            try queueCall { () throws(VirtioQueueError) in
                try activation.queues[0].disableNotification(in: activation.memory)
            }
        } catch {
            broken = true
            activation.markBroken("receive queue: \(error)")
            return interest
        }
        return receive(budget: budget)
    }

    /// Takes chains from queue 0 until the held ones can take a frame: one chain without
    /// mergeable buffers; with them, room for the largest frame, or every descriptor of a
    /// ring too small for that. Unusable chains (device-readable buffers, room for less
    /// than a header) go back used and empty. Returns false when the guest has no more.
    mutating func takeReceiveBuffers(returned: inout Int) throws(VirtioDeviceError) -> Bool {
        let ringSize = Int(activation.queues[0].size)
        // Bounded: a guest refilling as fast as chains are refused cannot keep the loop here.
        for _ in 0...ringSize {
            if mergeable {
                if heldRoom >= NetFrame.receiveRoom || (heldRingDescriptors >= ringSize && !held.isEmpty) {
                    return true
                }
            } else if !held.isEmpty {
                return true
            }
            guard
                let chain = try queueCall({ () throws(VirtioQueueError) in
                    try activation.queues[0].pop(from: activation.memory)
                })
            else { return false }
            if chain.readableCount > 0 || chain.writableLength < UInt64(NetFrame.headerSize) {
                shared.count(shared.rejectedChains)
                try queueCall { () throws(VirtioQueueError) in
                    try activation.queues[0].addUsed(chain, writtenLength: 0, to: activation.memory)
                }
                returned += 1
                continue
            }
            held.append(chain)
            heldRoom += Int(min(chain.writableLength, UInt64(NetFrame.receiveRoom)))
            heldRingDescriptors += Int(chain.ringDescriptorCount)
        }
        return mergeable ? heldRoom >= NetFrame.headerSize : !held.isEmpty
    }

    /// Asks the driver for a notification when it adds receive buffers; returns true when
    /// some arrived meanwhile (then carry on), false when the device is now paused.
    mutating func waitForReceiveBuffers() throws(VirtioDeviceError) -> Bool {
        let arrived = try queueCall { () throws(VirtioQueueError) in
            try activation.queues[0].enableNotification(in: activation.memory)
        }
        if arrived {
            try queueCall { () throws(VirtioQueueError) in
                try activation.queues[0].disableNotification(in: activation.memory)
            }
            return true
        }
        receivePaused = true
        return false
    }

    enum ReadOutcome {
        /// The tap has no frame.
        case empty
        /// The frame did not fit (or was shorter than a header); the buffers stay for the next.
        case dropped
        /// The frame went to this many chains, now used.
        case delivered(Int)
        /// The tap failed.
        case failed(SystemError)
    }

    /// Reads one frame with `readv` into the held chains' buffers and returns the chains
    /// it filled to the driver.
    mutating func readFrame() throws(VirtioDeviceError) -> ReadOutcome {
        receiveVectors.removeAll()
        frameSpans.removeAll(keepingCapacity: true)
        var room = NetFrame.receiveRoom
        for chain in held {
            var span = 0
            for buffer in chain.writable where buffer.length > 0 && room > 0 && !receiveVectors.isFull {
                let wanted = min(Int(buffer.length), room)
                guard let added = receiveVectors.append(activation.memory, buffer.address, wanted) else {
                    throw .malformedRequest("receive buffer at \(buffer.address) left guest memory")
                }
                span += added
                room -= added
            }
            guard span > 0 else { break }
            frameSpans.append(span)
            if !mergeable || room == 0 || receiveVectors.isFull { break }
        }
        let capacity = receiveVectors.byteCount
        let count: Int
        // The vectors mark what the kernel wrote dirty, even if the frame is then dropped.
        do { count = try receiveVectors.read(from: tapDescriptor) } catch {
            if error.errno == .wouldBlock { return .empty }
            return .failed(error)
        }
        guard count >= NetFrame.headerSize, count <= capacity else {
            shared.count(shared.receiveDrops)
            return .dropped
        }
        var chains = 0
        var left = count
        while left > 0 {
            left -= min(left, frameSpans[chains])
            chains += 1
        }
        try finishHeader(buffers: chains)
        left = count
        for index in 0..<chains {
            let length = min(left, frameSpans[index])
            left -= length
            let chain = held[index]
            try queueCall { () throws(VirtioQueueError) in
                try activation.queues[0].addUsed(chain, writtenLength: UInt32(length), to: activation.memory)
            }
            heldRoom -= Int(min(chain.writableLength, UInt64(NetFrame.receiveRoom)))
            heldRingDescriptors -= Int(chain.ringDescriptorCount)
        }
        held.removeFirst(chains)
        shared.count(shared.receivedFrames)
        shared.count(shared.receivedBytes, count - NetFrame.headerSize)
        return .delivered(chains)
    }

    /// Fills in what the tap leaves to the device: `num_buffers` (the tap skips those two
    /// bytes, so the guest's own bytes would show) and, without `GUEST_CSUM`, zero flags
    /// (the kernel may mark a frame `DATA_VALID`, which such a driver must not see).
    mutating func finishHeader(buffers: Int) throws(VirtioDeviceError) {
        let chain = held[0]
        let count = UInt16(clamping: buffers)
        if let first = chain.writable.first, first.length >= UInt32(NetFrame.headerSize) {
            try store(count, at: first.address.wrappingAdd(UInt64(NetFrame.numBuffersOffset)))
            if !guestChecksum { try store(UInt8(0), at: first.address) }
            return
        }
        // The header straddles descriptors: place it byte by byte.
        try storeByte(UInt8(truncatingIfNeeded: count), offset: NetFrame.numBuffersOffset, in: chain)
        try storeByte(UInt8(truncatingIfNeeded: count >> 8), offset: NetFrame.numBuffersOffset + 1, in: chain)
        if !guestChecksum { try storeByte(0, offset: 0, in: chain) }
    }

    private func storeByte(_ value: UInt8, offset: Int, in chain: DescriptorChain) throws(VirtioDeviceError) {
        var skip = UInt64(offset)
        for buffer in chain.writable {
            if skip < UInt64(buffer.length) {
                try store(value, at: buffer.address.wrappingAdd(skip))
                return
            }
            skip -= UInt64(buffer.length)
        }
    }

    private func store<T: FixedWidthInteger & BitwiseCopyable>(
        _ value: T, at address: GuestAddress
    )
        throws(VirtioDeviceError)
    {
        do {
            try activation.memory.writeLittleEndian(value, to: address)
        } catch {
            throw .malformedRequest("receive header at \(address): \(error)")
        }
    }

    // MARK: Failures

    /// The tap is gone (its interface deleted, or the file detached): stop reading it,
    /// report the link down and tell the driver its configuration changed.
    mutating func failTap(_ error: SystemError) {
        tapFailed = true
        shared.lastTapError.withLock { $0 = .system(interface: tapName, error) }
        if shared.linkUp.exchange(false, ordering: .acquiringAndReleasing) {
            activation.interrupt.signal(.configurationChange)
        }
    }
}

/// The device's presence on the event loop: the tap (receive) and a control eventfd
/// through which other paths ask the loop to change what it watches.
///
/// `@unchecked Sendable`: created on the activating thread and handed once to the loop;
/// its mutable fields (`id`, `watching`) are touched on the loop thread only.
final class TapSubscriber<Memory: GuestMemory>: EventSubscriber, @unchecked Sendable {
    static var tapToken: UInt64 { 0 }
    static var controlToken: UInt64 { 1 }

    weak let device: NetDevice<Memory>?
    let generation: UInt64
    let tapDescriptor: Int32
    let controlDescriptor: Int32
    /// Set when the loop adds the subscriber; reset uses it to remove it.
    var id: SubscriberID?
    private var watching = TapInterest.readable

    init(device: NetDevice<Memory>, generation: UInt64, tapDescriptor: Int32, controlDescriptor: Int32) {
        self.device = device
        self.generation = generation
        self.tapDescriptor = tapDescriptor
        self.controlDescriptor = controlDescriptor
    }

    func register(with ops: EventOps) throws {
        id = ops.subscriber
        try ops.add(tapDescriptor, events: .readable, data: Self.tapToken)
        try ops.add(controlDescriptor, events: .readable, data: Self.controlToken)
    }

    func process(_ event: ReadyEvent, with ops: EventOps) throws {
        guard let device else {
            for descriptor in ops.descriptors { try ops.remove(descriptor) }
            return
        }
        let wanted: TapInterest =
            event.data == Self.tapToken
            ? device.tapReady(generation: generation, events: event.events)
            : device.controlSignalled(generation: generation)
        guard wanted != watching, watching != .closed else { return }
        switch wanted {
        case .readable: try ops.modify(tapDescriptor, events: .readable)
        case .paused: try ops.modify(tapDescriptor, events: [])
        case .closed: try ops.remove(tapDescriptor)
        }
        watching = wanted
    }
}
