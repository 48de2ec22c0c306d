// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Synchronization
import Testing
import VMMemory
import VirtioQueue

/// Shared between the driver (the test's thread) and the device thread.
final class DeviceThreadStatus: Sendable {
    let stop = Atomic<Bool>(false)
    let served = Atomic<Int>(0)
    let failures = Atomic<Int>(0)
}

/// Runs `serve` on its own thread until `status.stop` is set, then signals `finished`.
func startDevice(
    _ status: DeviceThreadStatus, finished: DispatchSemaphore, _ serve: @escaping @Sendable () -> Void
) {
    Thread.detachNewThread {
        serve()
        finished.signal()
    }
}

/// The device's work on one chain: read an 8-byte request, answer request × 3.
func answer(_ chain: DescriptorChain, _ memory: GuestMemoryMap<BufferRegion>) throws -> UInt32 {
    var reader = DescriptorChainReader(chain)
    let request = try reader.readLittleEndian(UInt64.self, from: memory)
    var writer = DescriptorChainWriter(chain)
    try writer.writeLittleEndian(request &* 3, to: memory)
    return writer.writtenLength
}

/// A driver and a device on two threads share one queue in guest memory: the
/// driver publishes requests with release stores, the device acquires them, and
/// the answers come back through the used ring. Every request must be answered
/// exactly once with the right value, however the two threads interleave.
@Suite(.serialized) struct ConcurrentDriverTests {
    static let requests = 20_000
    static let inFlight = 32  // request slots; each uses two descriptors

    @Test func splitRingUnderConcurrency() throws {
        let memory = try GuestMemoryMap(regions: [BufferRegion(start: GuestAddress(0), size: 1 << 20)])
        let size: UInt16 = 64
        let table: UInt64 = 0x1000
        let avail: UInt64 = 0x1400
        let used: UInt64 = 0x1500
        let data: UInt64 = 0x10_0000 - 0x1000
        var queue = try Virtqueue(maximumSize: size)
        queue.descriptorArea = GuestAddress(table)
        queue.driverArea = GuestAddress(avail)
        queue.deviceArea = GuestAddress(used)
        try queue.activate(in: memory)

        let status = DeviceThreadStatus()
        let finished = DispatchSemaphore(value: 0)
        let deviceQueue = queue
        startDevice(status, finished: finished) {
            var queue = deviceQueue
            while !status.stop.load(ordering: .acquiring) {
                do {
                    while let chain = try queue.pop(from: memory) {
                        try queue.addUsed(chain, writtenLength: try answer(chain, memory), to: memory)
                        status.served.add(1, ordering: .relaxed)
                    }
                    // Idle: let the driver run (the machine may have fewer cores than spinners).
                    sched_yield()
                } catch {
                    status.failures.add(1, ordering: .relaxed)
                    return
                }
            }
        }

        // The driver: slot k owns descriptors 2k (request) and 2k + 1 (answer).
        var free = Array(0..<Self.inFlight)
        var sequence = [UInt64](repeating: 0, count: Self.inFlight)
        var issued = 0
        var completed = 0
        var availIndex: UInt16 = 0
        var lastUsed: UInt16 = 0
        while completed < Self.requests && status.failures.load(ordering: .relaxed) == 0 {
            var added = false
            while let slot = free.popLast(), issued < Self.requests {
                let request = data + UInt64(slot) * 16
                sequence[slot] = UInt64(issued) &* 0x9e37_79b9
                try memory.writeLittleEndian(sequence[slot], to: GuestAddress(request))
                try memory.writeLittleEndian(UInt64(0), to: GuestAddress(request + 8))
                let head = table + UInt64(slot) * 32
                try memory.writeLittleEndian(request, to: GuestAddress(head))
                try memory.writeLittleEndian(UInt32(8), to: GuestAddress(head + 8))
                try memory.writeLittleEndian(UInt16(1), to: GuestAddress(head + 12))
                try memory.writeLittleEndian(UInt16(slot * 2 + 1), to: GuestAddress(head + 14))
                try memory.writeLittleEndian(request + 8, to: GuestAddress(head + 16))
                try memory.writeLittleEndian(UInt32(8), to: GuestAddress(head + 24))
                try memory.writeLittleEndian(UInt16(2), to: GuestAddress(head + 28))
                try memory.writeLittleEndian(
                    UInt16(slot * 2), to: GuestAddress(avail + 4 + 2 * UInt64(availIndex % size)))
                availIndex &+= 1
                issued += 1
                added = true
            }
            // Publish the batch: everything above happens-before the device's acquire of idx.
            if added { try memory.atomicStore(availIndex, at: GuestAddress(avail + 2), ordering: .acquireRelease) }
            let usedIndex = try memory.atomicLoad(UInt16.self, at: GuestAddress(used + 2), ordering: .acquireRelease)
            if usedIndex == lastUsed { sched_yield() }
            while lastUsed != usedIndex {
                let element = used + 4 + 8 * UInt64(lastUsed % size)
                let id = try memory.readLittleEndian(UInt32.self, from: GuestAddress(element))
                let length = try memory.readLittleEndian(UInt32.self, from: GuestAddress(element + 4))
                let slot = Int(id / 2)
                #expect(id % 2 == 0 && slot < Self.inFlight && length == 8)
                let reply = try memory.readLittleEndian(UInt64.self, from: GuestAddress(data + UInt64(slot) * 16 + 8))
                #expect(reply == sequence[slot] &* 3)
                free.append(slot)
                completed += 1
                lastUsed &+= 1
            }
        }
        status.stop.store(true, ordering: .releasing)
        finished.wait()
        #expect(status.failures.load(ordering: .relaxed) == 0)
        #expect(completed == Self.requests)
        #expect(status.served.load(ordering: .relaxed) == Self.requests)
    }

    @Test func packedRingUnderConcurrency() throws {
        let memory = try GuestMemoryMap(regions: [BufferRegion(start: GuestAddress(0), size: 1 << 20)])
        let size: UInt16 = 64
        let ring: UInt64 = 0x1000
        let driverArea: UInt64 = 0x1400
        let deviceArea: UInt64 = 0x1404
        let data: UInt64 = 0x10_0000 - 0x1000
        var queue = try Virtqueue(maximumSize: size)
        queue.format = .packed
        queue.eventIndexEnabled = true
        queue.descriptorArea = GuestAddress(ring)
        queue.driverArea = GuestAddress(driverArea)
        queue.deviceArea = GuestAddress(deviceArea)
        try queue.activate(in: memory)

        let status = DeviceThreadStatus()
        let finished = DispatchSemaphore(value: 0)
        let deviceQueue = queue
        startDevice(status, finished: finished) {
            var queue = deviceQueue
            while !status.stop.load(ordering: .acquiring) {
                do {
                    while let chain = try queue.pop(from: memory) {
                        try queue.addUsed(chain, writtenLength: try answer(chain, memory), to: memory)
                        status.served.add(1, ordering: .relaxed)
                    }
                    // Idle: let the driver run (the machine may have fewer cores than spinners).
                    sched_yield()
                } catch {
                    status.failures.add(1, ordering: .relaxed)
                    return
                }
            }
        }

        // The driver: buffer id k uses data slot k; each buffer takes two ring slots.
        var free = Array(0..<Self.inFlight)
        var sequence = [UInt64](repeating: 0, count: Self.inFlight)
        var issued = 0
        var completed = 0
        var nextSlot: UInt16 = 0
        var availWrap = true
        var usedSlot: UInt16 = 0
        var usedWrap = true
        func place(_ slot: UInt16) -> UInt64 { ring + 16 * UInt64(slot) }
        while completed < Self.requests && status.failures.load(ordering: .relaxed) == 0 {
            while let id = free.popLast(), issued < Self.requests {
                let request = data + UInt64(id) * 16
                sequence[id] = UInt64(issued) &* 0x9e37_79b9
                try memory.writeLittleEndian(sequence[id], to: GuestAddress(request))
                let bits: UInt16 = availWrap ? 1 << 7 : 1 << 15
                let head = nextSlot
                let second = nextSlot + 1
                // Both slots of a buffer lie in one lap: 64 slots, buffers of two.
                try memory.writeLittleEndian(request, to: GuestAddress(place(head)))
                try memory.writeLittleEndian(UInt32(8), to: GuestAddress(place(head) + 8))
                try memory.writeLittleEndian(UInt16(id), to: GuestAddress(place(head) + 12))
                try memory.writeLittleEndian(request + 8, to: GuestAddress(place(second)))
                try memory.writeLittleEndian(UInt32(8), to: GuestAddress(place(second) + 8))
                try memory.writeLittleEndian(UInt16(id), to: GuestAddress(place(second) + 12))
                try memory.atomicStore(bits | 2, at: GuestAddress(place(second) + 14), ordering: .acquireRelease)
                try memory.atomicStore(bits | 1, at: GuestAddress(place(head) + 14), ordering: .acquireRelease)
                nextSlot += 2
                if nextSlot == size {
                    nextSlot = 0
                    availWrap.toggle()
                }
                issued += 1
            }
            while true {
                let flags = try memory.atomicLoad(
                    UInt16.self, at: GuestAddress(place(usedSlot) + 14), ordering: .acquireRelease)
                guard (flags & 0x8000 != 0) == usedWrap, (flags & 0x80 != 0) == usedWrap else {
                    sched_yield()
                    break
                }
                let id = Int(try memory.readLittleEndian(UInt16.self, from: GuestAddress(place(usedSlot) + 12)))
                let length = try memory.readLittleEndian(UInt32.self, from: GuestAddress(place(usedSlot) + 8))
                #expect(id < Self.inFlight && length == 8 && flags & 2 != 0)
                let reply = try memory.readLittleEndian(UInt64.self, from: GuestAddress(data + UInt64(id) * 16 + 8))
                #expect(reply == sequence[id] &* 3)
                free.append(id)
                completed += 1
                usedSlot += 2
                if usedSlot == size {
                    usedSlot = 0
                    usedWrap.toggle()
                }
            }
        }
        status.stop.store(true, ordering: .releasing)
        finished.wait()
        #expect(status.failures.load(ordering: .relaxed) == 0)
        #expect(completed == Self.requests)
        #expect(status.served.load(ordering: .relaxed) == Self.requests)
    }
}
