// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMMemory
import VirtioQueue

/// Guest memory for the cases: 4 MiB of RAM at 0 and 64 KiB at 8 MiB, with a hole
/// between them. Rings live in the low region; buffers anywhere.
let ramSize: UInt64 = 0x40_0000
let highStart: UInt64 = 0x80_0000
let highSize: UInt64 = 0x1_0000
/// An address in the hole.
let hole: UInt64 = 0x60_0000

func makeMemory() throws(TestFailure) -> GuestMemoryMap<BufferRegion> {
    try expectNoError { () throws(GuestMemoryError) in
        try GuestMemoryMap(regions: [
            BufferRegion(start: GuestAddress(0), size: ramSize),
            BufferRegion(start: GuestAddress(highStart), size: highSize),
        ])
    }
}

/// Whether `[address, address + length)` lies in the cases' memory, computed
/// without the library: the two regions are not adjacent, so one must hold it all.
func modelRangeFault(_ address: UInt64, _ length: UInt32) -> ChainError? {
    guard length > 0 else { return nil }
    let last = address.addingReportingOverflow(UInt64(length) - 1)
    if last.overflow { return .bufferOverflow(GuestAddress(address), length: length) }
    let inLow = last.partialValue < ramSize
    let inHigh = address >= highStart && last.partialValue < highStart + highSize
    return inLow || inHigh ? nil : .bufferNotInMemory(GuestAddress(address), length: length)
}

/// Reads a little-endian integer the test expects to be readable.
func peek<T: FixedWidthInteger & BitwiseCopyable>(
    _: T.Type, _ memory: GuestMemoryMap<BufferRegion>, _ address: UInt64, line: UInt = #line
) throws(TestFailure) -> T {
    try expectNoError("guest memory read", line: line) { () throws(GuestMemoryError) in
        try memory.readLittleEndian(T.self, from: GuestAddress(address))
    }
}

/// Writes a little-endian integer the test expects to be writable.
func poke<T: FixedWidthInteger & BitwiseCopyable>(
    _ value: T, _ memory: GuestMemoryMap<BufferRegion>, _ address: UInt64, line: UInt = #line
) throws(TestFailure) {
    try expectNoError("guest memory write", line: line) { () throws(GuestMemoryError) in
        try memory.writeLittleEndian(value, to: GuestAddress(address))
    }
}

/// Runs a queue operation the case expects to succeed.
func ok<T>(
    _ message: StaticString = "unexpected queue error", line: UInt = #line, _ body: () throws(VirtioQueueError) -> T
) throws(TestFailure) -> T {
    try expectNoError(message, line: line, body)
}

/// Fails unless `body` throws `.invalidChain(head: head, reason)`.
func expectChainError(
    _ reason: ChainError, head: UInt16, line: UInt = #line, _ body: () throws(VirtioQueueError) -> Void
) throws(TestFailure) {
    try expectError(VirtioQueueError.invalidChain(head: head, reason), line: line, body)
}

let flagNext: UInt16 = 1
let flagWrite: UInt16 = 2
let flagIndirect: UInt16 = 4
let flagAvail: UInt16 = 1 << 7
let flagUsed: UInt16 = 1 << 15

/// A minimal split-ring driver: writes descriptors and available entries the
/// way a guest would, and reads back what the device put in the used ring.
struct SplitDriver {
    let memory: GuestMemoryMap<BufferRegion>
    let size: UInt16
    let table: UInt64
    let avail: UInt64
    let used: UInt64
    var availIndex: UInt16 = 0

    init(memory: GuestMemoryMap<BufferRegion>, size: UInt16, base: UInt64 = 0x1000) {
        self.memory = memory
        self.size = size
        table = base
        // Available ring right after the table, used ring 4-aligned after that.
        avail = base + 16 * UInt64(size)
        used = (avail + 6 + 2 * UInt64(size) + 3) & ~3
    }

    /// A ready queue over this driver's rings.
    func makeQueue(eventIndex: Bool = false, maximumSize: UInt16? = nil) throws(TestFailure) -> Virtqueue {
        var queue = try ok { () throws(VirtioQueueError) in try Virtqueue(maximumSize: maximumSize ?? size) }
        queue.size = size
        queue.descriptorArea = GuestAddress(table)
        queue.driverArea = GuestAddress(avail)
        queue.deviceArea = GuestAddress(used)
        queue.eventIndexEnabled = eventIndex
        try ok { () throws(VirtioQueueError) in try queue.activate(in: memory) }
        return queue
    }

    func descriptor(
        _ index: UInt16, address: UInt64, length: UInt32, flags: UInt16 = 0, next: UInt16 = 0
    ) throws(TestFailure) {
        try write(at: table + 16 * UInt64(index), address: address, length: length, flags: flags, next: next)
    }

    /// Writes a split-format descriptor anywhere (an indirect table entry).
    func write(at place: UInt64, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) throws(TestFailure) {
        try poke(address, memory, place)
        try poke(length, memory, place + 8)
        try poke(flags, memory, place + 12)
        try poke(next, memory, place + 14)
    }

    /// Puts `head` in the next available slot without publishing it.
    mutating func place(_ head: UInt16) throws(TestFailure) {
        try poke(head, memory, avail + 4 + 2 * UInt64(availIndex % size))
        availIndex &+= 1
    }

    /// Publishes the available index (the device acquires it).
    func publish() throws(TestFailure) {
        try expectNoError { () throws(GuestMemoryError) in
            try memory.atomicStore(availIndex, at: GuestAddress(avail + 2), ordering: .acquireRelease)
        }
    }

    /// Places and publishes `heads`.
    mutating func offer(_ heads: UInt16...) throws(TestFailure) {
        for head in heads { try place(head) }
        try publish()
    }

    func usedIndex() throws(TestFailure) -> UInt16 { try peek(UInt16.self, memory, used + 2) }
    func usedFlags() throws(TestFailure) -> UInt16 { try peek(UInt16.self, memory, used) }
    func availEvent() throws(TestFailure) -> UInt16 { try peek(UInt16.self, memory, used + 4 + 8 * UInt64(size)) }

    /// The used element at free-running index `index`.
    func usedElement(_ index: UInt16) throws(TestFailure) -> (id: UInt32, length: UInt32) {
        let place = used + 4 + 8 * UInt64(index % size)
        return (try peek(UInt32.self, memory, place), try peek(UInt32.self, memory, place + 4))
    }

    func setUsedEvent(_ value: UInt16) throws(TestFailure) { try poke(value, memory, avail + 4 + 2 * UInt64(size)) }
    func setAvailFlags(_ value: UInt16) throws(TestFailure) { try poke(value, memory, avail) }
}

/// A minimal packed-ring driver: keeps the driver ring wrap counter, writes a
/// chain's first flags last, and reads used descriptors.
struct PackedDriver {
    let memory: GuestMemoryMap<BufferRegion>
    let size: UInt16
    let ring: UInt64
    let driverArea: UInt64
    let deviceArea: UInt64
    var nextSlot: UInt16 = 0
    var wrap = true

    init(memory: GuestMemoryMap<BufferRegion>, size: UInt16, base: UInt64 = 0x1000) {
        self.memory = memory
        self.size = size
        ring = base
        driverArea = base + 16 * UInt64(size)
        deviceArea = driverArea + 4
    }

    func makeQueue(eventIndex: Bool = false) throws(TestFailure) -> Virtqueue {
        var queue = try ok { () throws(VirtioQueueError) in try Virtqueue(maximumSize: 32768) }
        queue.format = .packed
        queue.size = size
        queue.descriptorArea = GuestAddress(ring)
        queue.driverArea = GuestAddress(driverArea)
        queue.deviceArea = GuestAddress(deviceArea)
        queue.eventIndexEnabled = eventIndex
        try ok { () throws(VirtioQueueError) in try queue.activate(in: memory) }
        return queue
    }

    /// The AVAIL/USED bits of an available descriptor for wrap counter `wrap`.
    static func availableBits(_ wrap: Bool) -> UInt16 { wrap ? flagAvail : flagUsed }

    /// Writes a descriptor's fields; `flags` last, with release ordering.
    func write(slot: UInt16, address: UInt64, length: UInt32, id: UInt16, flags: UInt16) throws(TestFailure) {
        let place = ring + 16 * UInt64(slot)
        try poke(address, memory, place)
        try poke(length, memory, place + 8)
        try poke(id, memory, place + 12)
        try expectNoError { () throws(GuestMemoryError) in
            try memory.atomicStore(flags, at: GuestAddress(place + 14), ordering: .acquireRelease)
        }
    }

    /// Offers one buffer made of `elements` (address, length, writable) with buffer
    /// `id`; `extraFlags` are or-ed into each descriptor. Returns the head slot.
    @discardableResult
    mutating func offer(
        _ elements: [(UInt64, UInt32, Bool)], id: UInt16, extraFlags: [UInt16]? = nil
    ) throws(TestFailure) -> UInt16 {
        let head = nextSlot
        var headFlags: UInt16 = 0
        for (index, element) in elements.enumerated() {
            var flags = Self.availableBits(wrap) | (element.2 ? flagWrite : 0)
            if index + 1 < elements.count { flags |= flagNext }
            flags |= extraFlags?[index] ?? 0
            if index == 0 {
                headFlags = flags
                // Flags 0 are never available (AVAIL == USED), whatever the wrap counter.
                try write(slot: nextSlot, address: element.0, length: element.1, id: id, flags: 0)
            } else {
                try write(slot: nextSlot, address: element.0, length: element.1, id: id, flags: flags)
            }
            nextSlot += 1
            if nextSlot == size {
                nextSlot = 0
                wrap.toggle()
            }
        }
        // The first descriptor becomes available last.
        try expectNoError { () throws(GuestMemoryError) in
            try memory.atomicStore(
                headFlags, at: GuestAddress(ring + 16 * UInt64(head) + 14), ordering: .acquireRelease)
        }
        return head
    }

    /// Writes a packed-format indirect table entry (its id is reserved: left 0).
    func writeEntry(at place: UInt64, address: UInt64, length: UInt32, flags: UInt16) throws(TestFailure) {
        try poke(address, memory, place)
        try poke(length, memory, place + 8)
        try poke(UInt16(0), memory, place + 12)
        try poke(flags, memory, place + 14)
    }

    /// The used descriptor in `slot`: id, length, flags.
    func usedDescriptor(_ slot: UInt16) throws(TestFailure) -> (id: UInt16, length: UInt32, flags: UInt16) {
        let place = ring + 16 * UInt64(slot)
        return (
            try peek(UInt16.self, memory, place + 12), try peek(UInt32.self, memory, place + 8),
            try peek(UInt16.self, memory, place + 14)
        )
    }

    func setDriverEvent(flags: UInt16, offWrap: UInt16 = 0) throws(TestFailure) {
        try poke(offWrap, memory, driverArea)
        try poke(flags, memory, driverArea + 2)
    }

    func deviceEvent() throws(TestFailure) -> (offWrap: UInt16, flags: UInt16) {
        (try peek(UInt16.self, memory, deviceArea), try peek(UInt16.self, memory, deviceArea + 2))
    }
}

/// Pops a chain the case expects to be there.
func popChain(
    _ queue: inout Virtqueue, _ memory: GuestMemoryMap<BufferRegion>, line: UInt = #line
) throws(TestFailure) -> DescriptorChain {
    let chain = try expectNoError("pop failed", line: line) { () throws(VirtioQueueError) in
        try queue.pop(from: memory)
    }
    guard let chain else { throw TestFailure("expected a chain", file: #filePath, line: line) }
    return chain
}

/// Expects the queue to have nothing to pop.
func expectEmpty(
    _ queue: inout Virtqueue, _ memory: GuestMemoryMap<BufferRegion>, line: UInt = #line
)
    throws(TestFailure)
{
    let chain = try expectNoError("pop failed", line: line) { () throws(VirtioQueueError) in
        try queue.pop(from: memory)
    }
    try expect(chain == nil, "expected an empty queue", line: line)
}

func buffer(_ address: UInt64, _ length: UInt32, writable: Bool = false) -> ChainDescriptor {
    ChainDescriptor(address: GuestAddress(address), length: length, isWritable: writable)
}
