// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMMemory
import VirtioQueue

/// The flags the device writes in a used descriptor for wrap counter `wrap`.
private func usedFlags(_ wrap: Bool, wrote: Bool) -> UInt16 {
    (wrap ? flagAvail | flagUsed : 0) | (wrote ? flagWrite : 0)
}

/// Packed ring: chains, wrap counters, indirect tables, hostile layouts, event suppression.
let packedCases: [PortableTestCase] = [
    PortableTestCase("PackedRing", "pops a chain and writes one used descriptor") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        try expectEmpty(&queue, memory)
        try driver.offer([(0x4_0000, 64, false), (0x4_1000, 32, true)], id: 5)
        let chain = try popChain(&queue, memory)
        try expectEqual(chain.id, 5)
        try expectEqual(chain.headIndex, 0)
        try expectEqual(chain.ringDescriptorCount, 2)
        try expectEqual(chain.descriptors, [buffer(0x4_0000, 64), buffer(0x4_1000, 32, writable: true)])
        try expectEqual(queue.nextAvailable, 2)
        try expectEmpty(&queue, memory)
        try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 10, to: memory) }
        let used = try driver.usedDescriptor(0)
        try expectEqual(used.id, 5)
        try expectEqual(used.length, 10)
        try expectEqual(used.flags, usedFlags(true, wrote: true))
        try expectEqual(queue.nextUsed, 2)
    },
    PortableTestCase("PackedRing", "wrap counters flip at the ring's end, lap after lap") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 3)  // packed sizes need not be powers of two
        var queue = try driver.makeQueue()
        for round in 0..<12 {
            let length = round % 3 + 1
            var elements: [(UInt64, UInt32, Bool)] = []
            for index in 0..<length { elements.append((0x4_0000 + UInt64(index) * 0x100, 16, index == length - 1)) }
            let wrapAtHead = driver.wrap
            let head = try driver.offer(elements, id: UInt16(round))
            let chain = try popChain(&queue, memory)
            try expectEqual(chain.headIndex, head)
            try expectEqual(chain.id, UInt16(round))
            try expectEqual(chain.descriptors.count, length)
            try expectEqual(queue.nextAvailable, driver.nextSlot)
            try expectEqual(queue.availableWrapCounter, driver.wrap)
            try expectEqual(queue.usedWrapCounter, wrapAtHead)
            try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 0, to: memory) }
            let used = try driver.usedDescriptor(head)
            try expectEqual(used.id, UInt16(round))
            try expectEqual(used.flags, usedFlags(wrapAtHead, wrote: false))
            try expectEqual(queue.nextUsed, driver.nextSlot)
            try expectEqual(queue.usedWrapCounter, driver.wrap)
        }
        // 1 + 2 + 3 slots per three rounds: 24 slots are 8 laps, back to wrap counter 1.
        try expect(queue.availableWrapCounter && queue.usedWrapCounter)
    },
    PortableTestCase("PackedRing", "a chain may span the end of the ring") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        for id in UInt16(0)..<3 {
            try driver.offer([(0x4_0000, 8, false)], id: id)
            let chain = try popChain(&queue, memory)
            try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 0, to: memory) }
        }
        try driver.offer([(0x4_0000, 1, false), (0x4_1000, 2, false), (0x4_2000, 3, true)], id: 7)  // slots 3, 0, 1
        let chain = try popChain(&queue, memory)
        try expectEqual(chain.headIndex, 3)
        try expectEqual(
            chain.descriptors, [buffer(0x4_0000, 1), buffer(0x4_1000, 2), buffer(0x4_2000, 3, writable: true)])
        try expectEqual(queue.nextAvailable, 2)
        try expect(!queue.availableWrapCounter)
        try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 3, to: memory) }
        try expectEqual(try driver.usedDescriptor(3).flags, usedFlags(true, wrote: true))
        try expectEqual(queue.nextUsed, 2)
        try expect(!queue.usedWrapCounter)
    },
    PortableTestCase("PackedRing", "descriptors that are not available are not popped") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        // AVAIL == USED looks used; AVAIL for the other wrap counter belongs to another lap.
        for flags in [flagAvail | flagUsed, flagUsed, 0] {
            try driver.write(slot: 0, address: 0x4_0000, length: 1, id: 0, flags: flags)
            try expectEmpty(&queue, memory)
            try expect(!(try ok { () throws(VirtioQueueError) in try queue.hasAvailable(in: memory) }))
        }
        try driver.write(slot: 0, address: 0x4_0000, length: 1, id: 0, flags: flagAvail)
        try expect(try ok { () throws(VirtioQueueError) in try queue.hasAvailable(in: memory) })
    },
    PortableTestCase("PackedRing", "indirect table: entries in order, reserved flags ignored") {
        () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        let table: UInt64 = 0x3_0000
        try driver.writeEntry(at: table, address: 0x4_0000, length: 8, flags: flagNext | flagIndirect)
        try driver.writeEntry(at: table + 16, address: 0x4_1000, length: 8, flags: 0)
        try driver.writeEntry(at: table + 32, address: 0x4_2000, length: 8, flags: flagWrite | flagAvail)
        try driver.offer([(table, 48, true)], id: 9, extraFlags: [flagIndirect])
        let chain = try popChain(&queue, memory)
        try expect(chain.isIndirect)
        try expectEqual(chain.id, 9)
        try expectEqual(chain.ringDescriptorCount, 1)
        try expectEqual(
            chain.descriptors, [buffer(0x4_0000, 8), buffer(0x4_1000, 8), buffer(0x4_2000, 8, writable: true)])
        try expectEqual(queue.nextAvailable, 1)
    },
    PortableTestCase("PackedRing", "bad indirect descriptors consume what they read") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 16)
        var queue = try driver.makeQueue()
        let table: UInt64 = 0x3_0000
        try driver.writeEntry(at: table, address: 0x4_0000, length: 8, flags: 0)
        // Indirect after a NEXT: two slots read.
        try driver.offer([(0x4_0000, 8, false), (table, 16, false)], id: 1, extraFlags: [0, flagIndirect])
        try expectChainError(.indirectInChain, head: 0) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        try expectEqual(queue.nextAvailable, 2)
        // Indirect with NEXT: one slot read; the next slot then pops as a chain of its own.
        try driver.offer([(table, 16, false), (0x4_1000, 4, false)], id: 2, extraFlags: [flagIndirect, 0])
        try expectChainError(.indirectWithNext, head: 2) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        let rest = try popChain(&queue, memory)
        try expectEqual(rest.descriptors, [buffer(0x4_1000, 4)])
        try driver.offer([(table, 24, false)], id: 3, extraFlags: [flagIndirect])
        try driver.offer([(table, 0, false)], id: 4, extraFlags: [flagIndirect])
        try driver.offer([(table, 16 * 65537, false)], id: 5, extraFlags: [flagIndirect])
        try driver.offer([(hole, 16, false)], id: 6, extraFlags: [flagIndirect])
        let expected: [(UInt16, ChainError)] = [
            (4, .indirectTableLength(24)), (5, .indirectTableLength(0)), (6, .indirectTableTooLarge(entries: 65537)),
            (7, .indirectTableNotInMemory(GuestAddress(hole), length: 16)),
        ]
        for (head, reason) in expected {
            try expectChainError(reason, head: head) { () throws(VirtioQueueError) in _ = try queue.pop(from: memory) }
        }
        try expectEqual(queue.nextAvailable, 8)
    },
    PortableTestCase("PackedRing", "a NEXT into a descriptor that is not available") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        // A chain whose last descriptor still says NEXT, into a never-written slot.
        try driver.offer([(0x4_0000, 8, false), (0x4_0000, 8, false)], id: 1, extraFlags: [0, flagNext])
        try expectChainError(.descriptorNotAvailable(slot: 2), head: 0) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        try expectEqual(queue.nextAvailable, 3)
    },
    PortableTestCase("PackedRing", "a ring full of NEXT flags is cut at the ring size") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        try driver.offer(
            [(0x4_0000, 1, false), (0x4_0000, 1, false), (0x4_0000, 1, false), (0x4_0000, 1, false)], id: 1,
            extraFlags: [0, 0, 0, flagNext])
        try expectChainError(.chainTooLong(limit: 4), head: 0) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        try expectEqual(queue.nextAvailable, 0)
        try expect(!queue.availableWrapCounter)
        try expectEmpty(&queue, memory)
    },
    PortableTestCase("PackedRing", "readable after writable and buffers outside memory") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        try driver.offer([(0x4_0000, 8, true), (0x4_1000, 8, false)], id: 1)
        try driver.offer([(0x4_0000, 8, false), (UInt64.max - 3, 8, true)], id: 2)
        try driver.offer([(ramSize - 4, 8, false)], id: 3)
        try expectChainError(.readableAfterWritable, head: 0) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        try expectChainError(.bufferOverflow(GuestAddress(UInt64.max - 3), length: 8), head: 2) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        try expectChainError(.bufferNotInMemory(GuestAddress(ramSize - 4), length: 8), head: 4) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        try expectEmpty(&queue, memory)
    },
    PortableTestCase("PackedRing", "used counts and format are checked") { () throws(TestFailure) in
        let memory = try makeMemory()
        let driver = PackedDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        for count in [UInt16(0), 5] {
            try expectError(VirtioQueueError.invalidUsedCount(count, size: 4)) { () throws(VirtioQueueError) in
                try queue.addUsed(id: 0, descriptorCount: count, writtenLength: 0, to: memory)
            }
        }
        try expectError(VirtioQueueError.wrongFormat(.packed)) { () throws(VirtioQueueError) in
            try queue.addUsed(id: 0, writtenLength: 0, to: memory)
        }
        try expectEqual(queue.nextUsed, 0)
        // A whole ring's worth in one used descriptor wraps the counter once.
        try ok { () throws(VirtioQueueError) in
            try queue.addUsed(id: 3, descriptorCount: 4, writtenLength: 0, to: memory)
        }
        try expectEqual(queue.nextUsed, 0)
        try expect(!queue.usedWrapCounter)
    },
    PortableTestCase("PackedRing", "state save and restore in the middle of a lap") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue(eventIndex: true)
        for id in UInt16(0)..<3 {
            try driver.offer([(0x4_0000, 8, true)], id: id)
            let chain = try popChain(&queue, memory)
            try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 8, to: memory) }
        }
        let saved = queue.state
        let bytes = saved.serialized()
        var restored = try ok { () throws(VirtioQueueError) in
            try Virtqueue(state: try QueueState(serialized: bytes))
        }
        try expectEqual(restored.state, saved)
        try driver.offer([(0x4_0000, 8, true), (0x4_1000, 8, true)], id: 3)  // slots 3 and 0
        let chain = try popChain(&restored, memory)
        try expectEqual(chain.headIndex, 3)
        try ok { () throws(VirtioQueueError) in try restored.addUsed(chain, writtenLength: 16, to: memory) }
        try expectEqual(restored.nextUsed, 1)
        try expect(!restored.usedWrapCounter)
        try expectEqual(try driver.usedDescriptor(3).id, 3)
    },
]

/// Packed event suppression (section 2.8.10).
let packedNotificationCases: [PortableTestCase] = [
    PortableTestCase("PackedNotification", "driver flags enable, disable, or ask for one descriptor") {
        () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        func useOne(_ id: UInt16) throws(TestFailure) -> Bool {
            try driver.offer([(0x4_0000, 8, false)], id: id)
            let chain = try popChain(&queue, memory)
            try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 0, to: memory) }
            return try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }
        }
        try expect(!(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }), "nothing used")
        try expect(try useOne(0), "enabled by default")
        try driver.setDriverEvent(flags: 1)
        try expect(!(try useOne(1)), "disabled")
        // A descriptor event without negotiated event indices: notify to be safe.
        try driver.setDriverEvent(flags: 2, offWrap: 0x8007)
        try expect(try useOne(2))
        try driver.setDriverEvent(flags: 3)
        try expect(try useOne(3), "reserved value: notify")
    },
    PortableTestCase("PackedNotification", "descriptor events compare slot and wrap counter") {
        () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue(eventIndex: true)
        // Notify when slot 1 of the next lap (wrap counter 0) is used.
        try driver.setDriverEvent(flags: 2, offWrap: 1)
        var answers: [Bool] = []
        for id in UInt16(0)..<7 {
            try driver.offer([(0x4_0000, 8, false)], id: id)
            let chain = try popChain(&queue, memory)
            try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 0, to: memory) }
            answers.append(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) })
        }
        // Slots 0-3 of lap 1, then 0, 1, 2 of lap 2: only using slot 1 of lap 2 crosses the event.
        try expectEqual(answers, [false, false, false, false, false, true, false])
    },
    PortableTestCase("PackedNotification", "a batch crossing the event slot notifies once") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue(eventIndex: true)
        try driver.setDriverEvent(flags: 2, offWrap: 0x8000 | 3)
        var chains: [DescriptorChain] = []
        for id in UInt16(0)..<3 {
            try driver.offer([(0x4_0000, 8, false), (0x4_1000, 8, true)], id: id)  // two slots each
            chains.append(try popChain(&queue, memory))
        }
        try ok { () throws(VirtioQueueError) in try queue.addUsed(chains[0], writtenLength: 0, to: memory) }
        try expect(!(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }), "slots 0-1")
        try ok { () throws(VirtioQueueError) in try queue.addUsed(chains[1], writtenLength: 0, to: memory) }
        try ok { () throws(VirtioQueueError) in try queue.addUsed(chains[2], writtenLength: 0, to: memory) }
        try expect(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }, "slots 2-5")
    },
    PortableTestCase("PackedNotification", "device event suppression: enable, disable, descriptor") {
        () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 4)
        var plain = try driver.makeQueue()
        try ok { () throws(VirtioQueueError) in try plain.disableNotification(in: memory) }
        try expectEqual(try driver.deviceEvent().flags, 1)
        try expect(!(try ok { () throws(VirtioQueueError) in try plain.enableNotification(in: memory) }))
        try expectEqual(try driver.deviceEvent().flags, 0)
        try driver.offer([(0x4_0000, 8, false)], id: 0)
        try expect(try ok { () throws(VirtioQueueError) in try plain.enableNotification(in: memory) }, "one waiting")

        let memory2 = try makeMemory()
        var driver2 = PackedDriver(memory: memory2, size: 4)
        var queue = try driver2.makeQueue(eventIndex: true)
        try expect(!(try ok { () throws(VirtioQueueError) in try queue.enableNotification(in: memory2) }))
        try expectEqual(try driver2.deviceEvent().flags, 2)
        try expectEqual(try driver2.deviceEvent().offWrap, 0x8000)
        for id in UInt16(0)..<4 {
            try driver2.offer([(0x4_0000, 8, false)], id: id)
            _ = try popChain(&queue, memory2)
        }
        // Popping while enabled moves the event to the next slot: slot 0 of lap 2 (wrap 0).
        try expectEqual(try driver2.deviceEvent().offWrap, 0)
        try ok { () throws(VirtioQueueError) in try queue.disableNotification(in: memory2) }
        try expectEqual(try driver2.deviceEvent().flags, 1)
    },
]
