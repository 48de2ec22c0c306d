// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Synchronization
import Testing
import VMDevice

/// A device that counts accesses atomically and answers with its tag and the offset.
final class TaggedDevice: BusDevice {
    let tag: UInt64
    let reads = Atomic<Int>(0)
    let writes = Atomic<Int>(0)
    let written = Atomic<UInt64>(0)
    init(tag: UInt64) { self.tag = tag }
    func read(offset: UInt64, size: Int) -> UInt64 {
        reads.add(1, ordering: .relaxed)
        return tag << 32 | offset
    }
    func write(offset: UInt64, size: Int, value: UInt64) {
        writes.add(1, ordering: .relaxed)
        written.add(value, ordering: .relaxed)
    }
}

/// A device whose write handler moves itself on the bus (as a PCI BAR write does).
final class RelocatingDevice: BusDevice, @unchecked Sendable {
    let bus: MmioBus
    var range: BusRange
    init(bus: MmioBus, range: BusRange) {
        self.bus = bus
        self.range = range
    }
    func read(offset: UInt64, size: Int) -> UInt64 { range.base }
    func write(offset: UInt64, size: Int, value: UInt64) {
        let target = BusRange(base: value, size: range.size)
        do {
            try bus.remove(range)
            try bus.insert(self, at: target)
            range = target
        } catch {
            Issue.record("relocation failed: \(error)")
        }
    }
}

/// Runs `body(thread)` on `count` new threads at once and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchSemaphore(value: 0)
    for index in 0..<count {
        let thread = Thread {
            body(index)
            done.signal()
        }
        thread.start()
    }
    for _ in 0..<count { done.wait() }
}

@Suite struct BusRangeTests {
    @Test func overlapIsSymmetricAndHalfOpen() {
        let a = BusRange(base: 0x100, size: 0x10)
        #expect(a.overlaps(BusRange(base: 0x10f, size: 1)))
        #expect(BusRange(base: 0x10f, size: 1).overlaps(a))
        #expect(!a.overlaps(BusRange(base: 0x110, size: 0x10)))
        #expect(!a.overlaps(BusRange(base: 0xf0, size: 0x10)))
        #expect(a.overlaps(BusRange(base: 0, size: 0x1000)))
        #expect(!a.overlaps(BusRange(base: 0x104, size: 0)))
        #expect(BusRange(base: UInt64.max, size: 2).end == nil)
    }
}

@Suite struct BusTests {
    @Test func insertRejectsOverlapsWithTypedErrors() throws {
        let bus = PioBus()
        let com1 = BusRange(base: 0x3f8, size: 8)
        try bus.insert(TaggedDevice(tag: 1), at: com1)
        for clash in [
            BusRange(base: 0x3f8, size: 8), BusRange(base: 0x3f0, size: 9), BusRange(base: 0x3ff, size: 1),
            BusRange(base: 0x3fa, size: 2), BusRange(base: 0x300, size: 0x200),
        ] {
            #expect(throws: BusError.overlap(existing: com1)) { try bus.insert(TaggedDevice(tag: 2), at: clash) }
        }
        #expect(throws: BusError.emptyRange) { try bus.insert(TaggedDevice(tag: 2), at: BusRange(base: 0, size: 0)) }
        #expect(throws: BusError.outOfSpace(BusRange(base: 0xffff, size: 2))) {
            try bus.insert(TaggedDevice(tag: 2), at: BusRange(base: 0xffff, size: 2))
        }
        let wrapping = BusRange(base: UInt64.max - 1, size: 4)
        #expect(throws: BusError.outOfSpace(wrapping)) { try MmioBus().insert(TaggedDevice(tag: 2), at: wrapping) }
        // Adjacent ranges are fine.
        try bus.insert(TaggedDevice(tag: 3), at: BusRange(base: 0x3f0, size: 8))
        try bus.insert(TaggedDevice(tag: 4), at: BusRange(base: 0x400, size: 1))
        try bus.insert(TaggedDevice(tag: 5), at: BusRange(base: 0xffff, size: 1))
        #expect(bus.ranges.map(\.base) == [0x3f0, 0x3f8, 0x400, 0xffff])
    }

    @Test func removeNeedsTheExactRange() throws {
        let bus = MmioBus()
        let range = BusRange(base: 0xd000_0000, size: 0x1000)
        let device = TaggedDevice(tag: 7)
        try bus.insert(device, at: range)
        #expect(throws: BusError.notFound(BusRange(base: 0xd000_0000, size: 0x10))) {
            try bus.remove(BusRange(base: 0xd000_0000, size: 0x10))
        }
        #expect(throws: BusError.notFound(BusRange(base: 0x1000, size: 0x10))) {
            try bus.remove(BusRange(base: 0x1000, size: 0x10))
        }
        let removed = try bus.remove(range)
        #expect(removed === device)
        #expect(bus.count == 0)
        #expect(throws: BusError.noDevice(address: 0xd000_0000)) { try bus.read(address: 0xd000_0000, size: 4) }
        try bus.insert(TaggedDevice(tag: 8), at: range)  // the range is free again
    }

    @Test func lookupMatchesALinearScanOverManyRanges() throws {
        let bus = MmioBus()
        var ranges: [BusRange] = []
        var generator = SystemRandomNumberGenerator()
        var base: UInt64 = 0x1000
        for tag in 0..<1000 {
            let size = UInt64.random(in: 1...0x3000, using: &generator)
            let range = BusRange(base: base, size: size)
            ranges.append(range)
            try bus.insert(TaggedDevice(tag: UInt64(tag)), at: range)
            base += size + UInt64.random(in: 0...0x2000, using: &generator)
        }
        // Insert order must not matter: the bus keeps them sorted.
        #expect(bus.ranges == ranges)
        for _ in 0..<20_000 {
            let address = UInt64.random(in: 0...(base + 0x1000), using: &generator)
            let expected = ranges.firstIndex { $0.contains(address) }
            let found = bus.lookup(address)
            #expect(found.map { ($0.device as! TaggedDevice).tag } == expected.map { UInt64($0) })
            if let found, let expected {
                #expect(found.offset == address - ranges[expected].base)
                #expect(found.range == ranges[expected])
            }
        }
    }

    @Test func dispatchChecksSizeAndRangeEnd() throws {
        let bus = PioBus()
        try bus.insert(TaggedDevice(tag: 1), at: BusRange(base: 0x60, size: 1))
        try bus.insert(TaggedDevice(tag: 2), at: BusRange(base: 0x64, size: 1))
        #expect(try bus.read(address: 0x64, size: 1) == 2 << 32)
        #expect(throws: BusError.invalidAccess(address: 0x60, size: 3)) { try bus.read(address: 0x60, size: 3) }
        // A 4-byte access at a 1-port device would cross into its neighbours.
        #expect(throws: BusError.invalidAccess(address: 0x60, size: 4)) {
            try bus.write(address: 0x60, size: 4, value: 1)
        }
        #expect(throws: BusError.noDevice(address: 0x61)) { try bus.read(address: 0x61, size: 1) }
    }

    @Test func aDeviceMayMoveItselfDuringDispatch() throws {
        let bus = MmioBus()
        let device = RelocatingDevice(bus: bus, range: BusRange(base: 0x1000, size: 0x100))
        try bus.insert(device, at: device.range)
        try bus.write(address: 0x1010, size: 8, value: 0x8000)
        #expect(try bus.read(address: 0x8004, size: 4) == 0x8000)
        #expect(bus.lookup(0x1010) == nil)
    }

    @Test func concurrentDispatchFromSeveralThreads() throws {
        let bus = PioBus()
        let devices = (0..<8).map { TaggedDevice(tag: UInt64($0)) }
        for (index, device) in devices.enumerated() {
            try bus.insert(device, at: BusRange(base: UInt64(index) * 0x10, size: 0x10))
        }
        let perThread = 20_000
        let failures = Atomic<Int>(0)
        let churns = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        // One thread inserts and removes a range next to the devices the whole time.
        let churner = Thread {
            let spare = TaggedDevice(tag: 99)
            while !stop.load(ordering: .relaxed) {
                do {
                    try bus.insert(spare, at: BusRange(base: 0x100, size: 0x10))
                    try bus.remove(BusRange(base: 0x100, size: 0x10))
                    churns.add(1, ordering: .relaxed)
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        churner.start()
        onThreads(4) { thread in
            for iteration in 0..<perThread {
                let index = UInt64((iteration + thread) % 8)
                let offset = UInt64(iteration % 0x10)
                do {
                    let value = try bus.read(address: index * 0x10 + offset, size: 1)
                    if value != index << 32 | offset { failures.add(1, ordering: .relaxed) }
                    try bus.write(address: index * 0x10, size: 1, value: 1)
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        stop.store(true, ordering: .relaxed)
        while bus.count != 8 {}  // the churner finishes its last remove
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(churns.load(ordering: .relaxed) > 0)
        let reads = devices.reduce(0) { $0 + $1.reads.load(ordering: .relaxed) }
        let writes = devices.reduce(0) { $0 + $1.writes.load(ordering: .relaxed) }
        #expect(reads == 4 * perThread)
        #expect(writes == 4 * perThread)
        #expect(devices.reduce(UInt64(0)) { $0 + $1.written.load(ordering: .relaxed) } == UInt64(4 * perThread))
    }

    @Test func writeLockExcludesEveryoneElse() {
        final class Box: @unchecked Sendable { var value = 0 }
        let lock = ReadWriteSpinLock()
        let box = Box()
        onThreads(4) { _ in
            for _ in 0..<100_000 { lock.withWriteLock { box.value += 1 } }
        }
        #expect(lock.withReadLock { box.value } == 400_000)
    }
}

@Suite struct InterruptTypeTests {
    @Test func msiMessageSplitsItsAddress() {
        let message = MSIMessage(address: 0x1_fee0_1000, data: 0x4041, deviceID: 3)
        #expect(message.addressLow == 0xfee0_1000)
        #expect(message.addressHigh == 1)
        #expect(InterruptRoute.msi(message) != .legacy(LegacyInterruptLine(pin: 4)))
        #expect(LegacyInterruptLine(pin: 4) == LegacyInterruptLine(controller: 0, pin: 4))
    }
}
