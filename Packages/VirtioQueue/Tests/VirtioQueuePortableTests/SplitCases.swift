// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMMemory
import VirtioQueue

/// Split ring: chains, indirect tables, used ring and every hostile layout.
let splitCases: [PortableTestCase] = [
    PortableTestCase("SplitRing", "pops a one-descriptor chain, then nothing") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        try expectEmpty(&queue, memory)
        try driver.descriptor(3, address: 0x4_0000, length: 64)
        try driver.offer(3)
        let chain = try popChain(&queue, memory)
        try expectEqual(chain.id, 3)
        try expectEqual(chain.headIndex, 3)
        try expectEqual(chain.ringDescriptorCount, 1)
        try expect(!chain.isIndirect)
        try expectEqual(chain.descriptors, [buffer(0x4_0000, 64)])
        try expectEqual(chain.readableLength, 64)
        try expectEqual(chain.writableLength, 0)
        try expectEqual(queue.nextAvailable, 1)
        try expectEmpty(&queue, memory)
    },
    PortableTestCase("SplitRing", "follows next links; readable buffers come before writable ones") {
        () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 16)
        var queue = try driver.makeQueue()
        // 5 -> 2 -> 9 -> 0: two readable, two writable, in table order unrelated to chain order.
        try driver.descriptor(5, address: 0x4_0000, length: 16, flags: flagNext, next: 2)
        try driver.descriptor(2, address: 0x4_1000, length: 512, flags: flagNext, next: 9)
        try driver.descriptor(9, address: 0x4_2000, length: 100, flags: flagNext | flagWrite, next: 0)
        try driver.descriptor(0, address: highStart, length: 1, flags: flagWrite, next: 7)
        try driver.offer(5)
        let chain = try popChain(&queue, memory)
        try expectEqual(chain.id, 5)
        try expectEqual(chain.ringDescriptorCount, 4)
        try expectEqual(
            chain.descriptors,
            [
                buffer(0x4_0000, 16), buffer(0x4_1000, 512), buffer(0x4_2000, 100, writable: true),
                buffer(highStart, 1, writable: true),
            ])
        try expectEqual(chain.readableCount, 2)
        try expectEqual(Array(chain.readable), [buffer(0x4_0000, 16), buffer(0x4_1000, 512)])
        try expectEqual(
            Array(chain.writable), [buffer(0x4_2000, 100, writable: true), buffer(highStart, 1, writable: true)])
        try expectEqual(chain.readableLength, 528)
        try expectEqual(chain.writableLength, 101)
        var iterated: [ChainDescriptor] = []
        for descriptor in chain { iterated.append(descriptor) }
        try expectEqual(iterated, chain.descriptors)
    },
    PortableTestCase("SplitRing", "pops several chains in available order") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        for index in UInt16(0)..<4 {
            try driver.descriptor(index, address: 0x4_0000 + UInt64(index) * 0x100, length: UInt32(index) + 1)
        }
        try driver.offer(2, 0, 3, 1)
        for expected in [UInt16(2), 0, 3, 1] {
            let chain = try popChain(&queue, memory)
            try expectEqual(chain.id, expected)
            try expectEqual(chain.descriptors[0].length, UInt32(expected) + 1)
        }
        try expectEmpty(&queue, memory)
    },
    PortableTestCase("SplitRing", "addUsed writes the element, then the used index") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        try driver.descriptor(1, address: 0x4_0000, length: 64, flags: flagWrite)
        try driver.descriptor(6, address: 0x4_1000, length: 64, flags: flagWrite)
        try driver.offer(1, 6)
        let first = try popChain(&queue, memory)
        let second = try popChain(&queue, memory)
        // Complete out of order: the second chain first.
        try ok { () throws(VirtioQueueError) in try queue.addUsed(second, writtenLength: 17, to: memory) }
        try expectEqual(try driver.usedIndex(), 1)
        let element = try driver.usedElement(0)
        try expectEqual(element.id, 6)
        try expectEqual(element.length, 17)
        try ok { () throws(VirtioQueueError) in try queue.addUsed(first, writtenLength: 0, to: memory) }
        try expectEqual(try driver.usedIndex(), 2)
        try expectEqual(try driver.usedElement(1).id, 1)
        try expectEqual(queue.nextUsed, 2)
    },
    PortableTestCase("SplitRing", "addUsed refuses an id outside the table") { () throws(TestFailure) in
        let memory = try makeMemory()
        let driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        try expectError(VirtioQueueError.invalidUsedId(8, size: 8)) { () throws(VirtioQueueError) in
            try queue.addUsed(id: 8, writtenLength: 0, to: memory)
        }
        try expectEqual(try driver.usedIndex(), 0)
        try expectError(VirtioQueueError.wrongFormat(.split)) { () throws(VirtioQueueError) in
            try queue.addUsed(id: 0, descriptorCount: 1, writtenLength: 0, to: memory)
        }
    },
    PortableTestCase("SplitRing", "indirect table chained by next") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        let table: UInt64 = 0x3_0000
        // Entries 0 -> 2 -> 1 of a four-entry table; entry 3 is unused.
        try driver.write(at: table, address: 0x4_0000, length: 8, flags: flagNext, next: 2)
        try driver.write(at: table + 32, address: 0x4_1000, length: 8, flags: flagNext, next: 1)
        try driver.write(at: table + 16, address: 0x4_2000, length: 8, flags: flagWrite, next: 0)
        try driver.write(at: table + 48, address: 0xdead_0000_0000, length: 8, flags: 0, next: 0)
        // The device ignores WRITE on the descriptor that points at a table.
        try driver.descriptor(4, address: table, length: 64, flags: flagIndirect | flagWrite)
        try driver.offer(4)
        let chain = try popChain(&queue, memory)
        try expect(chain.isIndirect)
        try expectEqual(chain.id, 4)
        try expectEqual(chain.ringDescriptorCount, 1)
        try expectEqual(
            chain.descriptors, [buffer(0x4_0000, 8), buffer(0x4_1000, 8), buffer(0x4_2000, 8, writable: true)])
    },
    PortableTestCase("SplitRing", "direct descriptors may precede one indirect descriptor") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        let table: UInt64 = 0x3_0000
        try driver.write(at: table, address: 0x4_2000, length: 32, flags: flagWrite, next: 0)
        try driver.descriptor(0, address: 0x4_0000, length: 16, flags: flagNext, next: 1)
        try driver.descriptor(1, address: table, length: 16, flags: flagIndirect)
        try driver.offer(0)
        let chain = try popChain(&queue, memory)
        try expectEqual(chain.ringDescriptorCount, 2)
        try expectEqual(chain.descriptors, [buffer(0x4_0000, 16), buffer(0x4_2000, 32, writable: true)])
    },
    PortableTestCase("SplitRing", "a zero-length descriptor needs no memory behind it") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 2)
        var queue = try driver.makeQueue()
        try driver.descriptor(0, address: UInt64.max, length: 0)
        try driver.offer(0)
        try expectEqual(try popChain(&queue, memory).descriptors, [buffer(UInt64.max, 0)])
    },
    PortableTestCase("SplitRing", "a loop through next is cut at the table size") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        try driver.descriptor(0, address: 0x4_0000, length: 1, flags: flagNext, next: 1)
        try driver.descriptor(1, address: 0x4_0000, length: 1, flags: flagNext, next: 0)
        try driver.descriptor(2, address: 0x4_0000, length: 1, flags: flagNext, next: 2)  // itself
        try driver.offer(0, 2)
        try expectChainError(.chainTooLong(limit: 8), head: 0) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        try expectChainError(.chainTooLong(limit: 8), head: 2) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        try expectEqual(queue.nextAvailable, 2)
    },
    PortableTestCase("SplitRing", "a chain using every descriptor of the table is accepted") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 32)
        var queue = try driver.makeQueue()
        for index in UInt16(0)..<32 {
            let last = index == 31
            try driver.descriptor(
                index, address: 0x4_0000 + UInt64(index), length: 1, flags: last ? flagWrite : flagNext,
                next: index + 1)
        }
        try driver.offer(0)
        let chain = try popChain(&queue, memory)
        try expectEqual(chain.descriptors.count, 32)
        try expectEqual(chain.ringDescriptorCount, 32)
        try expectEqual(chain.readableCount, 31)
    },
    PortableTestCase("SplitRing", "head and next indices outside the table") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        try driver.descriptor(1, address: 0x4_0000, length: 1, flags: flagNext, next: 8)
        try driver.offer(8, 0xffff, 1)
        try expectChainError(.indexOutOfRange(index: 8, tableSize: 8), head: 8) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        try expectChainError(.indexOutOfRange(index: 0xffff, tableSize: 8), head: 0xffff) {
            () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        try expectChainError(.indexOutOfRange(index: 8, tableSize: 8), head: 1) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
    },
    PortableTestCase("SplitRing", "buffers outside guest memory or past 2^64") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        try driver.descriptor(0, address: hole, length: 16)  // in the hole
        try driver.descriptor(1, address: ramSize - 8, length: 16)  // runs into the hole
        try driver.descriptor(2, address: highStart + highSize - 1, length: 2)  // runs off the top region
        try driver.descriptor(3, address: UInt64.max - 7, length: 9)  // wraps
        try driver.descriptor(4, address: UInt64.max, length: 1)  // ends exactly at 2^64: no wrap, unmapped
        try driver.offer(0, 1, 2, 3, 4)
        try expectChainError(.bufferNotInMemory(GuestAddress(hole), length: 16), head: 0) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        try expectChainError(.bufferNotInMemory(GuestAddress(ramSize - 8), length: 16), head: 1) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        try expectChainError(.bufferNotInMemory(GuestAddress(highStart + highSize - 1), length: 2), head: 2) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        try expectChainError(.bufferOverflow(GuestAddress(UInt64.max - 7), length: 9), head: 3) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        try expectChainError(.bufferNotInMemory(GuestAddress(UInt64.max), length: 1), head: 4) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
    },
    PortableTestCase("SplitRing", "a readable buffer after a writable one") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        try driver.descriptor(0, address: 0x4_0000, length: 4, flags: flagWrite | flagNext, next: 1)
        try driver.descriptor(1, address: 0x4_0000, length: 4)
        // Across the indirect boundary: a writable direct buffer, then a readable table entry.
        let table: UInt64 = 0x3_0000
        try driver.write(at: table, address: 0x4_1000, length: 4, flags: 0, next: 0)
        try driver.descriptor(2, address: 0x4_0000, length: 4, flags: flagWrite | flagNext, next: 3)
        try driver.descriptor(3, address: table, length: 16, flags: flagIndirect)
        try driver.offer(0, 2)
        try expectChainError(.readableAfterWritable, head: 0) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        try expectChainError(.readableAfterWritable, head: 2) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
    },
    PortableTestCase("SplitRing", "bad indirect descriptors and tables") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        let table: UInt64 = 0x3_0000
        try driver.write(at: table, address: 0x4_0000, length: 4, flags: flagNext, next: 1)
        try driver.write(at: table + 16, address: 0x3_1000, length: 16, flags: flagIndirect, next: 0)
        try driver.descriptor(0, address: table, length: 32, flags: flagIndirect | flagNext, next: 1)
        try driver.descriptor(1, address: table, length: 32, flags: flagIndirect)  // nested inside
        try driver.descriptor(2, address: table, length: 24, flags: flagIndirect)  // not a multiple of 16
        try driver.descriptor(3, address: table, length: 0, flags: flagIndirect)  // empty
        try driver.descriptor(4, address: table, length: 16 * 65537, flags: flagIndirect)  // too large
        try driver.descriptor(5, address: hole, length: 32, flags: flagIndirect)  // in the hole
        try driver.descriptor(6, address: UInt64.max - 15, length: 32, flags: flagIndirect)  // wraps
        try driver.offer(0, 1, 2, 3, 4, 5, 6)
        let expected: [(UInt16, ChainError)] = [
            (0, .indirectWithNext), (1, .nestedIndirect), (2, .indirectTableLength(24)), (3, .indirectTableLength(0)),
            (4, .indirectTableTooLarge(entries: 65537)),
            (5, .indirectTableNotInMemory(GuestAddress(hole), length: 32)),
            (6, .indirectTableNotInMemory(GuestAddress(UInt64.max - 15), length: 32)),
        ]
        for (head, reason) in expected {
            try expectChainError(reason, head: head) { () throws(VirtioQueueError) in _ = try queue.pop(from: memory) }
        }
        try expectEmpty(&queue, memory)
    },
    PortableTestCase("SplitRing", "loops and bad links inside an indirect table") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        let loop: UInt64 = 0x3_0000
        try driver.write(at: loop, address: 0x4_0000, length: 4, flags: flagNext, next: 1)
        try driver.write(at: loop + 16, address: 0x4_0000, length: 4, flags: flagNext, next: 0)
        let outside: UInt64 = 0x3_1000
        try driver.write(at: outside, address: 0x4_0000, length: 4, flags: flagNext, next: 2)
        try driver.descriptor(0, address: loop, length: 32, flags: flagIndirect)
        try driver.descriptor(1, address: outside, length: 32, flags: flagIndirect)
        try driver.offer(0, 1)
        try expectChainError(.chainTooLong(limit: 2), head: 0) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        try expectChainError(.indexOutOfRange(index: 2, tableSize: 2), head: 1) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
    },
    PortableTestCase("SplitRing", "a chain may total 2^32 bytes but not more") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        // 65536 entries of 64 KiB, all pointing at the high region: exactly 2^32 bytes.
        let table: UInt64 = 0x8_0000
        for index in UInt64(0)..<65536 {
            try driver.write(
                at: table + 16 * index, address: highStart, length: UInt32(highSize),
                flags: index == 65535 ? 0 : flagNext, next: UInt16(truncatingIfNeeded: index + 1))
        }
        try driver.descriptor(0, address: table, length: 16 * 65536, flags: flagIndirect)
        try driver.descriptor(1, address: 0x4_0000, length: 1, flags: flagNext, next: 0)
        try driver.offer(0, 1)
        let chain = try popChain(&queue, memory)
        try expectEqual(chain.descriptors.count, 65536)
        try expectEqual(chain.readableLength, 1 << 32)
        try expectChainError(.totalLengthTooLarge((1 << 32) + 1), head: 1) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
    },
    PortableTestCase("SplitRing", "a bad chain is consumed; the next one pops") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        try driver.descriptor(0, address: hole, length: 4)
        try driver.descriptor(1, address: 0x4_0000, length: 4, flags: flagWrite)
        try driver.offer(0, 1)
        try expectChainError(.bufferNotInMemory(GuestAddress(hole), length: 4), head: 0) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        let chain = try popChain(&queue, memory)
        try expectEqual(chain.id, 1)
        // The device may hand the bad chain back with nothing written.
        try ok { () throws(VirtioQueueError) in try queue.addUsed(id: 0, writtenLength: 0, to: memory) }
        try expectEqual(try driver.usedElement(0).id, 0)
    },
    PortableTestCase("SplitRing", "an available index more than a queue ahead is refused") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        for index in UInt16(0)..<8 { try driver.descriptor(index, address: 0x4_0000, length: 1) }
        driver.availIndex = 9
        try driver.publish()
        try expectError(VirtioQueueError.availableIndexJump(next: 0, available: 9, size: 8)) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        try expectEqual(queue.nextAvailable, 0)
        // A driver moving the index backwards looks the same: 0xffff is 65535 ahead.
        driver.availIndex = 0xffff
        try driver.publish()
        try expectError(VirtioQueueError.availableIndexJump(next: 0, available: 0xffff, size: 8)) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        // Exactly a full queue is fine.
        driver.availIndex = 0
        for index in UInt16(0)..<8 { try driver.place(index) }
        try driver.publish()
        for _ in 0..<8 { _ = try popChain(&queue, memory) }
        try expectEmpty(&queue, memory)
    },
    PortableTestCase("SplitRing", "16-bit ring indices wrap at 65536") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 4)
        let fresh = try driver.makeQueue()
        var state = fresh.state
        state.nextAvailable = 0xfffe
        state.nextUsed = 0xfffe
        var queue = try ok { () throws(VirtioQueueError) in try Virtqueue(state: state) }
        driver.availIndex = 0xfffe
        for index in UInt16(0)..<4 { try driver.descriptor(index, address: 0x4_0000, length: 1, flags: flagWrite) }
        try driver.offer(0, 1, 2, 3)  // slots 2, 3, 0, 1; index ends at 2
        for expected in UInt16(0)..<4 {
            let chain = try popChain(&queue, memory)
            try expectEqual(chain.id, expected)
            try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 1, to: memory) }
        }
        try expectEqual(queue.nextAvailable, 2)
        try expectEqual(try driver.usedIndex(), 2)
        try expectEqual(try driver.usedElement(0xfffe).id, 0)
        try expectEqual(try driver.usedElement(1).id, 3)
        try expectEmpty(&queue, memory)
    },
    PortableTestCase("SplitRing", "not ready, bad size: refused without touching memory") { () throws(TestFailure) in
        let memory = try makeMemory()
        let driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue()
        queue.ready = false
        try expectError(VirtioQueueError.notReady) { () throws(VirtioQueueError) in _ = try queue.pop(from: memory) }
        try expectError(VirtioQueueError.notReady) { () throws(VirtioQueueError) in
            _ = try queue.needsNotification(memory)
        }
        queue.ready = true
        queue.size = 0
        try expectError(VirtioQueueError.invalidSize(0, maximum: 8, format: .split)) { () throws(VirtioQueueError) in
            _ = try queue.pop(from: memory)
        }
        queue.size = 6
        try expectError(VirtioQueueError.invalidSize(6, maximum: 8, format: .split)) { () throws(VirtioQueueError) in
            try queue.addUsed(id: 0, writtenLength: 0, to: memory)
        }
    },
    PortableTestCase("SplitRing", "unvalidated ring addresses give typed ring errors") { () throws(TestFailure) in
        let memory = try makeMemory()
        var queue = try ok { () throws(VirtioQueueError) in try Virtqueue(maximumSize: 8) }
        queue.driverArea = GuestAddress(hole)  // unmapped
        queue.ready = true  // without activate: no validation
        try expectError(VirtioQueueError.ringAccess(.driver, .unmappedAddress(GuestAddress(hole + 2)))) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        queue.driverArea = GuestAddress(0x2001)  // odd: the atomic index load needs 2-byte alignment
        try expectError(VirtioQueueError.ringAccess(.driver, .misaligned(GuestAddress(0x2003), alignment: 2))) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        // The index is mapped but the ring entry behind it runs into the hole.
        queue.driverArea = GuestAddress(ramSize - 4)
        try poke(UInt16(1), memory, ramSize - 2)
        try expectError(VirtioQueueError.ringAccess(.driver, .unmappedAddress(GuestAddress(ramSize)))) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        try expectEqual(queue.nextAvailable, 0)
        // A descriptor table ending 8 bytes before 2^64: its second word would wrap.
        queue.driverArea = GuestAddress(0x2000)
        try poke(UInt16(1), memory, 0x2002)
        queue.descriptorArea = GuestAddress(UInt64.max - 7)
        try expectError(
            VirtioQueueError.ringAccess(.descriptors, .addressOverflow(GuestAddress(UInt64.max - 7), length: 16))
        ) { () throws(VirtioQueueError) in _ = try queue.pop(from: memory) }
        try expectEqual(queue.nextAvailable, 0)
        queue.driverArea = GuestAddress(UInt64.max - 1)  // idx would sit past 2^64
        try expectError(VirtioQueueError.ringAccess(.driver, .addressOverflow(GuestAddress(UInt64.max - 1), length: 2)))
        { () throws(VirtioQueueError) in _ = try queue.pop(from: memory) }
    },
]

/// Faults in the device's own ring writes leave the queue where it was.
let ringFaultCases: [PortableTestCase] = [
    PortableTestCase("RingFaults", "a failed avail_event store consumes nothing") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue(eventIndex: true)
        try driver.descriptor(0, address: 0x4_0000, length: 1)
        try driver.offer(0)
        queue.deviceArea = GuestAddress(hole)  // the used ring moved out of memory after activation
        let availEvent = hole + 4 + 8 * 4
        try expectError(VirtioQueueError.ringAccess(.device, .unmappedAddress(GuestAddress(availEvent)))) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        try expectEqual(queue.nextAvailable, 0)
        try expectError(VirtioQueueError.ringAccess(.device, .unmappedAddress(GuestAddress(hole + 4)))) {
            () throws(VirtioQueueError) in try queue.addUsed(id: 0, writtenLength: 0, to: memory)
        }
        try expectEqual(queue.nextUsed, 0)
        queue.deviceArea = GuestAddress(driver.used)
        try expectEqual(try popChain(&queue, memory).id, 0)
    },
    PortableTestCase("RingFaults", "a failed packed event store consumes nothing") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = PackedDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue(eventIndex: true)
        try driver.offer([(0x4_0000, 8, false)], id: 1)
        queue.deviceArea = GuestAddress(hole)
        try expectError(VirtioQueueError.ringAccess(.device, .unmappedAddress(GuestAddress(hole)))) {
            () throws(VirtioQueueError) in _ = try queue.pop(from: memory)
        }
        try expectEqual(queue.nextAvailable, 0)
        try expect(queue.availableWrapCounter)
        queue.deviceArea = GuestAddress(driver.deviceArea)
        try expectEqual(try popChain(&queue, memory).id, 1)
    },
    PortableTestCase("RingFaults", "every operation refuses a queue that is not ready") { () throws(TestFailure) in
        let memory = try makeMemory()
        var queue = try SplitDriver(memory: memory, size: 4).makeQueue()
        queue.ready = false
        try expectError(VirtioQueueError.notReady) { () throws(VirtioQueueError) in
            _ = try queue.hasAvailable(in: memory)
        }
        try expectError(VirtioQueueError.notReady) { () throws(VirtioQueueError) in
            _ = try queue.enableNotification(in: memory)
        }
        try expectError(VirtioQueueError.notReady) { () throws(VirtioQueueError) in
            try queue.disableNotification(in: memory)
        }
        try expectError(VirtioQueueError.notReady) { () throws(VirtioQueueError) in
            try queue.addUsed(id: 0, writtenLength: 0, to: memory)
        }
        try expect(queue.notificationsEnabled, "a refused disable changes nothing")
    },
]

/// Configuration checks, notifications and state.
let splitControlCases: [PortableTestCase] = [
    PortableTestCase("QueueConfiguration", "maximum size and size rules") { () throws(TestFailure) in
        try expectError(VirtioQueueError.invalidMaximumSize(0)) { () throws(VirtioQueueError) in
            _ = try Virtqueue(maximumSize: 0)
        }
        try expectError(VirtioQueueError.invalidMaximumSize(32769)) { () throws(VirtioQueueError) in
            _ = try Virtqueue(maximumSize: 32769)
        }
        var queue = try ok { () throws(VirtioQueueError) in try Virtqueue(maximumSize: 32768) }
        try expectEqual(queue.size, 32768)
        for good in [UInt16(1), 2, 256, 32768] {
            queue.size = good
            try ok { () throws(VirtioQueueError) in try queue.checkSize() }
        }
        for bad in [UInt16(0), 3, 100, 32767] {
            queue.size = bad
            try expectError(VirtioQueueError.invalidSize(bad, maximum: 32768, format: .split)) {
                () throws(VirtioQueueError) in try queue.checkSize()
            }
        }
        queue.format = .packed
        for good in [UInt16(1), 3, 100, 32767, 32768] {
            queue.size = good
            try ok { () throws(VirtioQueueError) in try queue.checkSize() }
        }
        var small = try ok { () throws(VirtioQueueError) in try Virtqueue(maximumSize: 64) }
        small.size = 128
        try expectError(VirtioQueueError.invalidSize(128, maximum: 64, format: .split)) {
            () throws(VirtioQueueError) in try small.checkSize()
        }
    },
    PortableTestCase("QueueConfiguration", "areas must be aligned, in memory and not wrap") { () throws(TestFailure) in
        let memory = try makeMemory()
        let driver = SplitDriver(memory: memory, size: 16)
        var queue = try driver.makeQueue()
        try expect(queue.isValid(in: memory))
        try expectEqual(queue.range(of: .descriptors).length, 256)
        try expectEqual(queue.range(of: .driver).length, 6 + 32)
        try expectEqual(queue.range(of: .device).length, 6 + 128)
        let good = queue
        queue.descriptorArea = GuestAddress(0x1008)
        try expectError(VirtioQueueError.misalignedArea(.descriptors, GuestAddress(0x1008), alignment: 16)) {
            () throws(VirtioQueueError) in try queue.validate(in: memory)
        }
        queue = good
        queue.driverArea = GuestAddress(0x3001)
        try expectError(VirtioQueueError.misalignedArea(.driver, GuestAddress(0x3001), alignment: 2)) {
            () throws(VirtioQueueError) in try queue.validate(in: memory)
        }
        queue = good
        queue.deviceArea = GuestAddress(0x3002)
        try expectError(VirtioQueueError.misalignedArea(.device, GuestAddress(0x3002), alignment: 4)) {
            () throws(VirtioQueueError) in try queue.validate(in: memory)
        }
        queue = good
        queue.deviceArea = GuestAddress(ramSize - 64)  // 134 bytes do not fit before the hole
        try expectError(VirtioQueueError.areaNotInMemory(.device, GuestAddress(ramSize - 64), length: 134)) {
            () throws(VirtioQueueError) in try queue.validate(in: memory)
        }
        queue = good
        // The used ring over the available ring: the device's writes would offer buffers.
        queue.deviceArea = GuestAddress(good.driverArea.rawValue)
        try expectError(VirtioQueueError.overlappingAreas(.driver, .device)) {
            () throws(VirtioQueueError) in try queue.validate(in: memory)
        }
        queue = good
        queue.driverArea = GuestAddress(good.descriptorArea.rawValue + 8)
        try expectError(VirtioQueueError.overlappingAreas(.descriptors, .driver)) {
            () throws(VirtioQueueError) in try queue.validate(in: memory)
        }
        queue = good
        let top = GuestAddress(0xffff_ffff_ffff_ff10)
        queue.descriptorArea = top
        try expectError(VirtioQueueError.areaOverflow(.descriptors, top, length: 256)) {
            () throws(VirtioQueueError) in try queue.validate(in: memory)
        }
        queue.ready = false
        try expectError(VirtioQueueError.areaOverflow(.descriptors, top, length: 256)) {
            () throws(VirtioQueueError) in try queue.activate(in: memory)
        }
        try expect(!queue.ready, "a refused activation leaves the queue disabled")
        try expect(!queue.isValid(in: memory))
    },
    PortableTestCase("SplitNotification", "without event indices the driver's flag decides") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        try driver.descriptor(0, address: 0x4_0000, length: 1, flags: flagWrite)
        try expect(!(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }), "nothing used yet")
        try driver.offer(0, 0)
        let chain = try popChain(&queue, memory)
        try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 1, to: memory) }
        try expect(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) })
        try expect(!(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }), "already told")
        try driver.setAvailFlags(1)  // VIRTQ_AVAIL_F_NO_INTERRUPT
        let second = try popChain(&queue, memory)
        try ok { () throws(VirtioQueueError) in try queue.addUsed(second, writtenLength: 1, to: memory) }
        try expect(!(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }))
    },
    PortableTestCase("SplitNotification", "used_event is crossed across the 16-bit wrap") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 4)
        var state = try driver.makeQueue(eventIndex: true).state
        state.nextAvailable = 0xfffe
        state.nextUsed = 0xfffe
        var queue = try ok { () throws(VirtioQueueError) in try Virtqueue(state: state) }
        driver.availIndex = 0xfffe
        for index in UInt16(0)..<4 { try driver.descriptor(index, address: 0x4_0000, length: 1, flags: flagWrite) }
        try driver.offer(0, 1, 2, 3)
        // A restored queue does not know what the driver has seen: it notifies once.
        try expect(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) })
        // The driver wants to hear when the element at index 0xffff is used.
        try driver.setUsedEvent(0xffff)
        var notified: [Bool] = []
        for _ in 0..<4 {
            let chain = try popChain(&queue, memory)
            try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 1, to: memory) }
            notified.append(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) })
        }
        // Used index moved 0xfffe→0xffff (event not reached), →0 (crossed), →1, →2.
        try expectEqual(notified, [false, true, false, false])
        // An event left behind is not crossed again until the index comes round.
        try driver.setUsedEvent(1)
        try driver.offer(0)
        let extra = try popChain(&queue, memory)
        try ok { () throws(VirtioQueueError) in try queue.addUsed(extra, writtenLength: 1, to: memory) }
        try expect(!(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }))
    },
    PortableTestCase("SplitNotification", "batched used entries crossing used_event notify once") {
        () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue(eventIndex: true)
        for index in UInt16(0)..<8 { try driver.descriptor(index, address: 0x4_0000, length: 1) }
        try driver.offer(0, 1, 2, 3, 4, 5)
        try driver.setUsedEvent(2)
        for _ in 0..<2 {
            let chain = try popChain(&queue, memory)
            try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 0, to: memory) }
        }
        try expect(!(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }), "0 and 1 used")
        for _ in 0..<3 {
            let chain = try popChain(&queue, memory)
            try ok { () throws(VirtioQueueError) in try queue.addUsed(chain, writtenLength: 0, to: memory) }
        }
        try expect(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }, "2 was crossed")
        let last = try popChain(&queue, memory)
        try ok { () throws(VirtioQueueError) in try queue.addUsed(last, writtenLength: 0, to: memory) }
        try expect(!(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }))
    },
    PortableTestCase("SplitNotification", "enable and disable through the used flags") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue()
        try ok { () throws(VirtioQueueError) in try queue.disableNotification(in: memory) }
        try expectEqual(try driver.usedFlags(), 1)
        try expect(!queue.notificationsEnabled)
        let pending = try ok { () throws(VirtioQueueError) in try queue.enableNotification(in: memory) }
        try expect(!pending, "nothing available")
        try expectEqual(try driver.usedFlags(), 0)
        try driver.descriptor(0, address: 0x4_0000, length: 1)
        try driver.offer(0)
        try expect(try ok { () throws(VirtioQueueError) in try queue.enableNotification(in: memory) }, "one waiting")
        try expect(try ok { () throws(VirtioQueueError) in try queue.hasAvailable(in: memory) })
    },
    PortableTestCase("SplitNotification", "event indices: avail_event follows pops while enabled") {
        () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue(eventIndex: true)
        for index in UInt16(0)..<4 { try driver.descriptor(index, address: 0x4_0000, length: 1) }
        try driver.offer(0, 1, 2)
        _ = try popChain(&queue, memory)
        try expectEqual(try driver.availEvent(), 1)
        try ok { () throws(VirtioQueueError) in try queue.disableNotification(in: memory) }
        try expectEqual(try driver.usedFlags(), 0, "event indices leave the flags alone")
        _ = try popChain(&queue, memory)
        try expectEqual(try driver.availEvent(), 1, "a disabled queue stops advancing avail_event")
        try expect(try ok { () throws(VirtioQueueError) in try queue.enableNotification(in: memory) })
        try expectEqual(try driver.availEvent(), 2)
        _ = try popChain(&queue, memory)
        try expectEqual(try driver.availEvent(), 3)
        try expect(!(try ok { () throws(VirtioQueueError) in try queue.enableNotification(in: memory) }))
    },
    PortableTestCase("QueueState", "save and restore round-trips and resumes") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 8)
        var queue = try driver.makeQueue(eventIndex: true)
        for index in UInt16(0)..<8 { try driver.descriptor(index, address: 0x4_0000, length: 2, flags: flagWrite) }
        try driver.offer(0, 1, 2)
        let first = try popChain(&queue, memory)
        try ok { () throws(VirtioQueueError) in try queue.addUsed(first, writtenLength: 2, to: memory) }
        try ok { () throws(VirtioQueueError) in try queue.disableNotification(in: memory) }
        let saved = queue.state
        try expectEqual(saved.nextAvailable, 1)
        try expectEqual(saved.nextUsed, 1)
        try expect(saved.eventIndexEnabled && saved.ready && !saved.notificationsEnabled)
        let bytes = saved.serialized()
        try expectEqual(bytes.count, QueueState.serializedSize)
        let decoded = try ok { () throws(VirtioQueueError) in try QueueState(serialized: bytes) }
        try expectEqual(decoded, saved)
        var restored = try ok { () throws(VirtioQueueError) in try Virtqueue(state: decoded) }
        try expectEqual(restored.state, saved)
        let second = try popChain(&restored, memory)
        try expectEqual(second.id, 1)
        try ok { () throws(VirtioQueueError) in try restored.addUsed(second, writtenLength: 2, to: memory) }
        try expectEqual(try driver.usedIndex(), 2)
    },
    PortableTestCase("QueueState", "inconsistent or corrupt states are refused") { () throws(TestFailure) in
        let memory = try makeMemory()
        let good = try SplitDriver(memory: memory, size: 8).makeQueue().state
        var state = good
        state.size = 6
        try expectError(VirtioQueueError.invalidState) { () throws(VirtioQueueError) in _ = try Virtqueue(state: state)
        }
        state.ready = false  // a disabled queue may hold any size the driver wrote
        try ok { () throws(VirtioQueueError) in _ = try Virtqueue(state: state) }
        state = good
        state.maximumSize = 0
        try expectError(VirtioQueueError.invalidMaximumSize(0)) { () throws(VirtioQueueError) in
            _ = try Virtqueue(state: state)
        }
        state = good
        state.format = .packed
        state.nextUsed = 8
        try expectError(VirtioQueueError.invalidState) { () throws(VirtioQueueError) in _ = try Virtqueue(state: state)
        }
        let bytes = good.serialized()
        var corrupt: [[UInt8]] = [Array(bytes.dropLast()), bytes + [0]]
        for (offset, value) in [(0, UInt8(2)), (1, UInt8(2)), (2, UInt8(0x20)), (3, UInt8(1))] {
            var copy = bytes
            copy[offset] = value
            corrupt.append(copy)
        }
        for candidate in corrupt {
            try expectError(VirtioQueueError.invalidState) { () throws(VirtioQueueError) in
                _ = try QueueState(serialized: candidate)
            }
        }
    },
    PortableTestCase("QueueState", "reset returns to the initial state") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 4)
        var queue = try driver.makeQueue(eventIndex: true)
        try driver.descriptor(0, address: 0x4_0000, length: 1)
        try driver.offer(0)
        _ = try popChain(&queue, memory)
        queue.reset()
        let fresh = try ok { () throws(VirtioQueueError) in try Virtqueue(maximumSize: 4) }
        try expectEqual(queue, fresh)
        try expectError(VirtioQueueError.notReady) { () throws(VirtioQueueError) in _ = try queue.pop(from: memory) }
    },
]
