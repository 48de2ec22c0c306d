// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import Synchronization
import VMDevice
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import VirtioDevices
import VirtioQueue

typealias TestMemory = GuestMemoryMap<MmapRegion>

/// An interrupt group whose trigger writes an eventfd: what an irqfd is, without KVM,
/// so the tests observe exactly the interrupts a guest would get.
final class EventFdInterruptGroup: InterruptSourceGroup, Sendable {
    let event: EventFd
    init() throws { event = try EventFd(flags: [.nonBlocking]) }
    var count: Int { 1 }
    func enable() throws(InterruptError) {}
    func disable() throws(InterruptError) {}
    func update(index: Int, route: InterruptRoute, masked: Bool) throws(InterruptError) {}
    func trigger(index: Int) throws(InterruptError) { try? event.signal() }
    /// Interrupts since the last call.
    func take() -> UInt64 { (try? event.wait()) ?? 0 }
}

struct TestDriverError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A virtio driver in the test process: negotiates through the MMIO registers the way
/// Linux's virtio_mmio does, lays out split rings in (real, mmap'ed) guest memory and
/// posts descriptor chains.
final class TestDriver<Device: VirtioDevice<TestMemory>> {
    let memory: TestMemory
    let loop: EventLoopThread
    let interrupts: EventFdInterruptGroup
    let transport: MmioTransport<TestMemory>
    let device: Device
    var queues: [SplitQueueLayout] = []
    /// Next free guest address for buffers (below it: rings).
    var nextBuffer: UInt64 = 0x10_0000
    static var memorySize: UInt64 { 64 << 20 }

    init(device: Device, offerPackedRing: Bool = false) throws {
        self.device = device
        memory = try GuestMemoryMap(regions: [MmapRegion.anonymous(at: GuestAddress(0), size: Self.memorySize)])
        loop = try EventLoopThread.start()
        interrupts = try EventFdInterruptGroup()
        transport = try MmioTransport(
            device: device, interrupt: VirtioInterrupt(group: interrupts, index: 0), eventLoop: loop.remote,
            memory: memory, offerPackedRing: offerPackedRing)
    }

    deinit { _ = loop.stopAndJoin() }

    func read(_ register: UInt64) -> UInt32 { UInt32(transport.read(offset: register, size: 4)) }
    func write(_ register: UInt64, _ value: UInt32) { transport.write(offset: register, size: 4, value: UInt64(value)) }

    var deviceFeatures: UInt64 {
        write(MmioRegister.deviceFeaturesSelect, 0)
        let low = UInt64(read(MmioRegister.deviceFeatures))
        write(MmioRegister.deviceFeaturesSelect, 1)
        return low | UInt64(read(MmioRegister.deviceFeatures)) << 32
    }

    /// Negotiates `accept ∩ offered` (plus VERSION_1), sets up every queue with `size`
    /// entries and sets DRIVER_OK. Throws when the device refuses.
    func start(accept: UInt64 = .max, queueSize: UInt16 = 64) throws {
        guard read(MmioRegister.magicValue) == 0x7472_6976, read(MmioRegister.version) == 2 else {
            throw TestDriverError("not a virtio-mmio v2 device")
        }
        write(MmioRegister.status, 0)
        write(MmioRegister.status, DeviceStatus([.acknowledge, .driver]).rawValue)
        let features = deviceFeatures & accept & ~VirtioFeature.ringPacked
        write(MmioRegister.driverFeaturesSelect, 0)
        write(MmioRegister.driverFeatures, UInt32(truncatingIfNeeded: features))
        write(MmioRegister.driverFeaturesSelect, 1)
        write(MmioRegister.driverFeatures, UInt32(truncatingIfNeeded: features >> 32))
        write(MmioRegister.status, DeviceStatus([.acknowledge, .driver, .featuresOK]).rawValue)
        guard read(MmioRegister.status) & DeviceStatus.featuresOK.rawValue != 0 else {
            throw TestDriverError("device refused the features")
        }
        let eventIndex = features & VirtioFeature.ringEventIndex != 0
        var index: UInt32 = 0
        var ringBase: UInt64 = 0x1000
        queues = []
        while true {
            write(MmioRegister.queueSelect, index)
            let maximum = read(MmioRegister.queueSizeMaximum)
            if maximum == 0 { break }
            let size = UInt16(min(UInt32(queueSize), maximum))
            // A fresh driver starts from zeroed rings (as Linux allocates them), so nothing a previous
            // driver left there is served again after a reset.
            try memory.write([UInt8](repeating: 0, count: 0x1_0000), to: GuestAddress(ringBase))
            let layout = SplitQueueLayout(index: Int(index), size: size, base: ringBase, eventIndex: eventIndex)
            ringBase += 0x1_0000
            write(MmioRegister.queueSize, UInt32(size))
            for (register, address) in [
                (MmioRegister.queueDescriptorLow, layout.descriptors), (MmioRegister.queueDriverLow, layout.available),
                (MmioRegister.queueDeviceLow, layout.used),
            ] {
                write(register, UInt32(truncatingIfNeeded: address))
                write(register + 4, UInt32(truncatingIfNeeded: address >> 32))
            }
            write(MmioRegister.queueReady, 1)
            guard read(MmioRegister.queueReady) == 1 else { throw TestDriverError("queue \(index) not ready") }
            queues.append(layout)
            index += 1
        }
        write(MmioRegister.status, DeviceStatus([.acknowledge, .driver, .featuresOK, .driverOK]).rawValue)
    }

    /// Allocates a buffer of `length` bytes in guest memory (16-byte aligned).
    func allocate(_ length: Int) -> UInt64 {
        let address = nextBuffer
        nextBuffer = (nextBuffer + UInt64(max(length, 1)) + 15) & ~15
        precondition(nextBuffer < Self.memorySize, "test driver ran out of guest memory")
        return address
    }

    /// Copies `bytes` into a new guest buffer and returns its address.
    func place(_ bytes: [UInt8]) throws -> UInt64 {
        let address = allocate(bytes.count)
        try memory.write(bytes, to: GuestAddress(address))
        return address
    }

    /// Posts a chain of (address, length, writable) buffers on `queue` and returns its head.
    @discardableResult
    func post(queue: Int, _ buffers: [(UInt64, UInt32, Bool)], notify: Bool = true) throws -> UInt16 {
        let head = try queues[queue].post(buffers, memory: memory)
        if notify { write(MmioRegister.queueNotify, UInt32(queue)) }
        return head
    }

    /// Waits until `queue` has used `count` chains in total; returns (id, length) of each new one.
    func waitUsed(queue: Int, count: Int, timeout: Duration = .seconds(10)) throws -> [(id: UInt32, length: UInt32)] {
        let deadline = ContinuousClock.now + timeout
        while try queues[queue].usedIndex(memory) < UInt16(truncatingIfNeeded: count) {
            if ContinuousClock.now > deadline {
                throw TestDriverError("queue \(queue): \(try queues[queue].usedIndex(memory)) of \(count) used in time")
            }
            if let reason = transport.brokenReason { throw TestDriverError("device broken: \(reason)") }
            usleep(1000)
        }
        return try queues[queue].takeUsed(memory)
    }
}

/// One split virtqueue as the driver lays it out.
struct SplitQueueLayout {
    let index: Int
    let size: UInt16
    let descriptors: UInt64
    let available: UInt64
    let used: UInt64
    let eventIndex: Bool
    var nextDescriptor: UInt16 = 0
    var availableIndex: UInt16 = 0
    var lastSeenUsed: UInt16 = 0

    init(index: Int, size: UInt16, base: UInt64, eventIndex: Bool) {
        self.index = index
        self.size = size
        self.eventIndex = eventIndex
        descriptors = base
        available = base + 16 * UInt64(size)
        used = (available + 6 + 2 * UInt64(size) + 4095) & ~4095
    }

    /// Writes descriptors for `buffers` (reusing slots round-robin) and publishes the head.
    mutating func post(_ buffers: [(UInt64, UInt32, Bool)], memory: TestMemory) throws -> UInt16 {
        let head = nextDescriptor
        for (position, buffer) in buffers.enumerated() {
            let slot = nextDescriptor
            nextDescriptor = (nextDescriptor + 1) % size
            let last = position == buffers.count - 1
            let flags: UInt16 = (last ? 0 : 1) | (buffer.2 ? 2 : 0)
            let entry = descriptors + 16 * UInt64(slot)
            try memory.writeLittleEndian(buffer.0, to: GuestAddress(entry))
            try memory.writeLittleEndian(buffer.1, to: GuestAddress(entry + 8))
            try memory.writeLittleEndian(flags, to: GuestAddress(entry + 12))
            try memory.writeLittleEndian(last ? 0 : nextDescriptor, to: GuestAddress(entry + 14))
        }
        try writeRawChainHead(head, memory: memory)
        return head
    }

    /// Publishes `head` in the available ring as is (hostile tests point it at anything).
    mutating func writeRawChainHead(_ head: UInt16, memory: TestMemory) throws {
        try memory.writeLittleEndian(head, to: GuestAddress(available + 4 + 2 * UInt64(availableIndex % size)))
        availableIndex &+= 1
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        try memory.writeLittleEndian(availableIndex, to: GuestAddress(available + 2))
    }

    /// Writes descriptor `slot` directly (hostile tests).
    func writeDescriptor(
        _ slot: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16, memory: TestMemory
    ) throws {
        let entry = descriptors + 16 * UInt64(slot)
        try memory.writeLittleEndian(address, to: GuestAddress(entry))
        try memory.writeLittleEndian(length, to: GuestAddress(entry + 8))
        try memory.writeLittleEndian(flags, to: GuestAddress(entry + 12))
        try memory.writeLittleEndian(next, to: GuestAddress(entry + 14))
    }

    func usedIndex(_ memory: TestMemory) throws -> UInt16 {
        let value: UInt16 = try memory.readLittleEndian(from: GuestAddress(used + 2))
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        return value
    }

    mutating func takeUsed(_ memory: TestMemory) throws -> [(id: UInt32, length: UInt32)] {
        let end = try usedIndex(memory)
        var result: [(id: UInt32, length: UInt32)] = []
        while lastSeenUsed != end {
            let element = used + 4 + 8 * UInt64(lastSeenUsed % size)
            let id: UInt32 = try memory.readLittleEndian(from: GuestAddress(element))
            let length: UInt32 = try memory.readLittleEndian(from: GuestAddress(element + 4))
            result.append((id, length))
            lastSeenUsed &+= 1
        }
        return result
    }
}
