// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMDevice

/// A device whose write handler moves itself on the bus (as a PCI BAR write does),
/// remembering whether a move was refused.
final class RelocatingDevice: BusDevice, @unchecked Sendable {
    let bus: MmioBus
    var range: BusRange
    var failedMoves = 0
    init(bus: MmioBus, range: BusRange) {
        self.bus = bus
        self.range = range
    }
    func read(offset: UInt64, size: Int) -> UInt64 { range.base }
    func write(offset: UInt64, size: Int, value: UInt64) {
        let target = BusRange(base: value, size: range.size)
        do throws(BusError) {
            try bus.remove(range)
            try bus.insert(self, at: target)
            range = target
        } catch {
            failedMoves += 1
        }
    }
}

let busRangeCases: [PortableTestCase] = [
    PortableTestCase("BusRange", "overlap is symmetric and half-open") { () throws(TestFailure) in
        let a = BusRange(base: 0x100, size: 0x10)
        try expect(a.overlaps(BusRange(base: 0x10f, size: 1)))
        try expect(BusRange(base: 0x10f, size: 1).overlaps(a))
        try expect(!a.overlaps(BusRange(base: 0x110, size: 0x10)))
        try expect(!a.overlaps(BusRange(base: 0xf0, size: 0x10)))
        try expect(a.overlaps(BusRange(base: 0, size: 0x1000)))
        try expect(!a.overlaps(BusRange(base: 0x104, size: 0)))
        try expectEqual(BusRange(base: UInt64.max, size: 2).end, nil)
    }
]

let busCases: [PortableTestCase] = [
    PortableTestCase("Bus", "insert rejects overlaps with typed errors") { () throws(TestFailure) in
        let bus = PioBus()
        let com1 = BusRange(base: 0x3f8, size: 8)
        try expectNoError { () throws(BusError) in try bus.insert(TaggedDevice(tag: 1), at: com1) }
        for clash in [
            BusRange(base: 0x3f8, size: 8), BusRange(base: 0x3f0, size: 9), BusRange(base: 0x3ff, size: 1),
            BusRange(base: 0x3fa, size: 2), BusRange(base: 0x300, size: 0x200),
        ] {
            try expectError(.overlap(existing: com1)) { () throws(BusError) in
                try bus.insert(TaggedDevice(tag: 2), at: clash)
            }
        }
        try expectError(.emptyRange) { () throws(BusError) in
            try bus.insert(TaggedDevice(tag: 2), at: BusRange(base: 0, size: 0))
        }
        try expectError(.outOfSpace(BusRange(base: 0xffff, size: 2))) { () throws(BusError) in
            try bus.insert(TaggedDevice(tag: 2), at: BusRange(base: 0xffff, size: 2))
        }
        let wrapping = BusRange(base: UInt64.max - 1, size: 4)
        try expectError(.outOfSpace(wrapping)) { () throws(BusError) in
            try MmioBus().insert(TaggedDevice(tag: 2), at: wrapping)
        }
        // Adjacent ranges are fine.
        try expectNoError { () throws(BusError) in
            try bus.insert(TaggedDevice(tag: 3), at: BusRange(base: 0x3f0, size: 8))
            try bus.insert(TaggedDevice(tag: 4), at: BusRange(base: 0x400, size: 1))
            try bus.insert(TaggedDevice(tag: 5), at: BusRange(base: 0xffff, size: 1))
        }
        try expectEqual(bus.ranges.map { $0.base }, [0x3f0, 0x3f8, 0x400, 0xffff])
    },
    PortableTestCase("Bus", "remove needs the exact range") { () throws(TestFailure) in
        let bus = MmioBus()
        let range = BusRange(base: 0xd000_0000, size: 0x1000)
        let device = TaggedDevice(tag: 7)
        try expectNoError { () throws(BusError) in try bus.insert(device, at: range) }
        try expectError(.notFound(BusRange(base: 0xd000_0000, size: 0x10))) { () throws(BusError) in
            try bus.remove(BusRange(base: 0xd000_0000, size: 0x10))
        }
        try expectError(.notFound(BusRange(base: 0x1000, size: 0x10))) { () throws(BusError) in
            try bus.remove(BusRange(base: 0x1000, size: 0x10))
        }
        let removed = try expectNoError { () throws(BusError) in try bus.remove(range) }
        try expect(removed === device, "remove returns the inserted device")
        try expectEqual(bus.count, 0)
        try expectError(.noDevice(address: 0xd000_0000)) { () throws(BusError) in
            _ = try bus.read(address: 0xd000_0000, size: 4)
        }
        // The range is free again.
        try expectNoError { () throws(BusError) in try bus.insert(TaggedDevice(tag: 8), at: range) }
    },
    PortableTestCase("Bus", "lookup matches a linear scan over many ranges") { () throws(TestFailure) in
        let bus = MmioBus()
        var ranges: [BusRange] = []
        var devices: [TaggedDevice] = []
        var random = SplitMix64(seed: 0x5eed_b005)
        var base: UInt64 = 0x1000
        for tag in 0..<1000 {
            let size = 1 + random.below(0x3000)
            let range = BusRange(base: base, size: size)
            let device = TaggedDevice(tag: UInt64(tag))
            ranges.append(range)
            devices.append(device)
            try expectNoError { () throws(BusError) in try bus.insert(device, at: range) }
            base += size + random.below(0x2001)
        }
        try expectEqual(bus.ranges, ranges)
        for _ in 0..<20_000 {
            let address = random.below(base + 0x1001)
            let expected = ranges.firstIndex { $0.contains(address) }
            let found = bus.lookup(address)
            try expectEqual(found == nil, expected == nil, "lookup and linear scan disagree on presence")
            if let found, let expected {
                try expect(found.device === devices[expected], "lookup found another device")
                try expectEqual(found.offset, address - ranges[expected].base)
                try expectEqual(found.range, ranges[expected])
            }
        }
    },
    PortableTestCase("Bus", "dispatch checks size and range end") { () throws(TestFailure) in
        let bus = PioBus()
        try expectNoError { () throws(BusError) in
            try bus.insert(TaggedDevice(tag: 1), at: BusRange(base: 0x60, size: 1))
            try bus.insert(TaggedDevice(tag: 2), at: BusRange(base: 0x64, size: 1))
        }
        try expectEqual(try expectNoError { () throws(BusError) in try bus.read(address: 0x64, size: 1) }, 2 << 32)
        try expectError(.invalidAccess(address: 0x60, size: 3)) { () throws(BusError) in
            _ = try bus.read(address: 0x60, size: 3)
        }
        // A 4-byte access at a 1-port device would cross into its neighbours.
        try expectError(.invalidAccess(address: 0x60, size: 4)) { () throws(BusError) in
            try bus.write(address: 0x60, size: 4, value: 1)
        }
        try expectError(.noDevice(address: 0x61)) { () throws(BusError) in
            _ = try bus.read(address: 0x61, size: 1)
        }
    },
    PortableTestCase("Bus", "a device may move itself during dispatch") { () throws(TestFailure) in
        let bus = MmioBus()
        let device = RelocatingDevice(bus: bus, range: BusRange(base: 0x1000, size: 0x100))
        try expectNoError { () throws(BusError) in
            try bus.insert(device, at: device.range)
            try bus.write(address: 0x1010, size: 8, value: 0x8000)
        }
        try expectEqual(device.failedMoves, 0)
        try expectEqual(try expectNoError { () throws(BusError) in try bus.read(address: 0x8004, size: 4) }, 0x8000)
        try expect(bus.lookup(0x1010) == nil)
    },
]

/// A reference bus: the occupied ranges in insertion order, searched linearly.
private struct LinearBus {
    var entries: [(range: BusRange, device: TaggedDevice)] = []

    func expectedInsertError(_ range: BusRange, limit: UInt64) -> BusError? {
        if range.size == 0 { return .emptyRange }
        guard let end = range.end, end <= limit else { return .outOfSpace(range) }
        // The bus reports the lower neighbour first, so pick the lowest clash.
        let clashes = entries.filter { $0.range.overlaps(range) }.map { $0.range }
        if let lowest = clashes.min(by: { $0.base < $1.base }) { return .overlap(existing: lowest) }
        return nil
    }

    func lookup(_ address: UInt64) -> (range: BusRange, device: TaggedDevice)? {
        entries.first { $0.range.contains(address) }
    }
}

let busModelCases: [PortableTestCase] = [
    PortableTestCase("Bus", "random insert, remove and lookup agree with a linear scan") { () throws(TestFailure) in
        let bus = PioBus()
        var model = LinearBus()
        var random = SplitMix64(seed: 0x0b05_1234)
        for step in 0..<4000 {
            // Ranges clustered in a small window so overlaps, adjacency and the
            // 0x10000 limit all come up often.
            let base = 0xf000 + random.below(0x1100)
            let size = random.below(4) == 0 ? 0 : 1 + random.below(0x40)
            let range = BusRange(base: base, size: size)
            switch random.below(3) {
            case 0:
                let device = TaggedDevice(tag: UInt64(step))
                let expected = model.expectedInsertError(range, limit: PortIO.limit)
                switch attempt({ () throws(BusError) in try bus.insert(device, at: range) }) {
                case .success:
                    try expectEqual(expected, nil, "the bus accepted a range the model refuses")
                    model.entries.append((range, device))
                case .failure(let error):
                    try expectEqual(error, expected, "the bus refused with another error than the model")
                }
            case 1:
                // Remove an existing range half the time, otherwise the random one.
                let target =
                    !model.entries.isEmpty && random.below(2) == 0
                    ? model.entries[Int(random.below(UInt64(model.entries.count)))].range : range
                let index = model.entries.firstIndex { $0.range == target }
                switch attempt({ () throws(BusError) in try bus.remove(target) }) {
                case .success(let removed):
                    guard let index else {
                        throw TestFailure("removed a range the model lacks", file: #filePath, line: #line)
                    }
                    try expect(removed === model.entries[index].device, "remove returned another device")
                    model.entries.remove(at: index)
                case .failure(let error):
                    try expectEqual(error, .notFound(target))
                    try expect(index == nil, "the bus lost a range the model has")
                }
            default:
                for _ in 0..<8 {
                    let address = 0xf000 + random.below(0x1100)
                    let found = bus.lookup(address)
                    let expected = model.lookup(address)
                    try expectEqual(found == nil, expected == nil, "lookup and linear scan disagree on presence")
                    if let found, let expected {
                        try expect(found.device === expected.device, "lookup found another device")
                        try expectEqual(found.range, expected.range)
                        try expectEqual(found.offset, address - expected.range.base)
                    }
                }
            }
            try expectEqual(bus.count, model.entries.count)
        }
        let sorted = model.entries.map { $0.range }.sorted { $0.base < $1.base }
        try expectEqual(bus.ranges, sorted)
    }
]

let interruptTypeCases: [PortableTestCase] = [
    PortableTestCase("InterruptTypes", "MSI message splits its address") { () throws(TestFailure) in
        let message = MSIMessage(address: 0x1_fee0_1000, data: 0x4041, deviceID: 3)
        try expectEqual(message.addressLow, 0xfee0_1000)
        try expectEqual(message.addressHigh, 1)
        try expect(InterruptRoute.msi(message) != .legacy(LegacyInterruptLine(pin: 4)))
        try expectEqual(LegacyInterruptLine(pin: 4), LegacyInterruptLine(controller: 0, pin: 4))
    }
]
