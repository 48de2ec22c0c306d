// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMMemory

private struct Header: Equatable, BitwiseCopyable {
    var magic: UInt32
    var flags: UInt16
    var count: UInt16
    var address: UInt64
}

let guestMemoryMapCases: [PortableTestCase] = [
    PortableTestCase("GuestMemoryMap", "regions are sorted and looked up") { () throws(TestFailure) in
        let memory = try sampleMemory()
        try expectEqual(
            memory.regions.map { $0.startAddress.rawValue }, [0x1000, 0x3000, 0x8000, 0xffff_ffff_ffff_f000])
        try expectEqual(memory.regionIndex(containing: GuestAddress(0xfff)), nil)
        try expectEqual(memory.regionIndex(containing: GuestAddress(0x1000)), 0)
        try expectEqual(memory.regionIndex(containing: GuestAddress(0x2fff)), 0)
        try expectEqual(memory.regionIndex(containing: GuestAddress(0x3000)), 1)
        try expectEqual(memory.regionIndex(containing: GuestAddress(0x4000)), nil)
        try expectEqual(memory.regionIndex(containing: GuestAddress(0x8fff)), 2)
        try expectEqual(memory.regionIndex(containing: .max), 3)
        try expectEqual(memory.totalSize, 0x5000)
        try expectEqual(memory.lastAddress, .max)
        try expectEqual(memory.resolve(GuestAddress(0x2ffe))?.available, 2)
        try expectEqual(memory.resolve(GuestAddress(0x2ffe))?.regionOffset, MemoryRegionAddress(0x1ffe))
    },
    PortableTestCase("GuestMemoryMap", "invalid layouts are refused") { () throws(TestFailure) in
        let a = try expectNoError { () throws(GuestMemoryError) in
            try BufferRegion(start: GuestAddress(0x1000), size: 0x1000)
        }
        let b = try expectNoError { () throws(GuestMemoryError) in
            try BufferRegion(start: GuestAddress(0x1fff), size: 0x1000)
        }
        try expectError(.overlappingRegions(GuestAddress(0x1000), GuestAddress(0x1fff))) {
            () throws(GuestMemoryError) in _ = try GuestMemoryMap(regions: [b, a])
        }
        try expectError(.emptyRegion(GuestAddress(0x1000))) { () throws(GuestMemoryError) in
            _ = try BufferRegion(start: GuestAddress(0x1000), size: 0)
        }
        try expectError(.regionWrapsAddressSpace(GuestAddress(0xffff_ffff_ffff_f001), size: 0x1000)) {
            () throws(GuestMemoryError) in
            _ = try BufferRegion(start: GuestAddress(0xffff_ffff_ffff_f001), size: 0x1000)
        }
        try expectError(.hostAllocationFailed(size: UInt64.max)) { () throws(GuestMemoryError) in
            _ = try BufferRegion(start: .zero, size: UInt64.max)
        }
        let empty = try expectNoError { () throws(GuestMemoryError) in try GuestMemoryMap<BufferRegion>(regions: []) }
        try expectEqual(empty.regionIndex(containing: .zero), nil)
        try expectEqual(empty.lastAddress, nil)
        try expectError(.unmappedAddress(.zero)) { () throws(GuestMemoryError) in
            _ = try empty.read(count: 1, from: .zero)
        }
    },
    PortableTestCase("GuestMemoryMap", "inserting and removing regions") { () throws(TestFailure) in
        let memory = try sampleMemory()
        let more = try expectNoError { () throws(GuestMemoryError) in
            try memory.inserting(BufferRegion(start: GuestAddress(0x4000), size: 0x1000))
        }
        try expectEqual(more.regions.count, 5)
        try expectEqual(more.regionIndex(containing: GuestAddress(0x4800)), 2)
        let overlapping = try expectNoError { () throws(GuestMemoryError) in
            try BufferRegion(start: GuestAddress(0x3800), size: 8)
        }
        try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in
            _ = try memory.inserting(overlapping)
        }
        guard let fewer = more.removingRegion(startingAt: GuestAddress(0x1000)) else {
            throw TestFailure("the region at 0x1000 was not removed", file: #filePath, line: #line)
        }
        try expectEqual(fewer.regions.count, 4)
        try expectEqual(fewer.regionIndex(containing: GuestAddress(0x1000)), nil)
        try expect(more.removingRegion(startingAt: GuestAddress(0x1234)) == nil, "no region starts at 0x1234")
    },
    PortableTestCase("GuestMemoryMap", "lookup matches a linear scan with 64 regions") { () throws(TestFailure) in
        // Regions of varying size with varying holes; every boundary byte is checked.
        var regions: [BufferRegion] = []
        var start: UInt64 = 0x10_0000
        for index in 0..<64 {
            let size = UInt64(0x100 * (index % 7 + 1))
            regions.append(
                try expectNoError { () throws(GuestMemoryError) in
                    try BufferRegion(start: GuestAddress(start), size: size)
                })
            start += size + UInt64(index % 3) * 0x80
        }
        var random = SplitMix64(seed: 64)
        let shuffled = regions.shuffled(using: &random)
        let memory = try expectNoError { () throws(GuestMemoryError) in try GuestMemoryMap(regions: shuffled) }
        for (index, region) in regions.enumerated() {
            let first = region.startAddress
            let last = region.lastAddress
            try expectEqual(memory.regionIndex(containing: first), index)
            try expectEqual(memory.regionIndex(containing: last), index)
            let before = first.wrappingSubtract(1)
            let expected = index > 0 && regions[index - 1].lastAddress == before ? index - 1 : nil
            try expectEqual(memory.regionIndex(containing: before), expected)
        }
    },
    PortableTestCase("GuestMemoryMap", "first and last bytes of every region") { () throws(TestFailure) in
        let memory = try sampleMemory()
        for region in memory.regions {
            try expectNoError { () throws(GuestMemoryError) in
                try memory.write([0xa5], to: region.startAddress)
                try memory.write([0x5a], to: region.lastAddress)
            }
            try expectEqual(
                try expectNoError { () throws(GuestMemoryError) in try memory.read(count: 1, from: region.startAddress)
                }, [0xa5]
            )
            try expectEqual(
                try expectNoError { () throws(GuestMemoryError) in try memory.read(count: 1, from: region.lastAddress)
                }, [0x5a])
            try expectEqual(region.hostAddress.load(as: UInt8.self), 0xa5)
            try expectEqual(region.hostAddress.load(fromByteOffset: Int(region.size - 1), as: UInt8.self), 0x5a)
        }
        // The byte at 2^64 - 1 is addressable; one more byte wraps.
        let value = try expectNoError { () throws(GuestMemoryError) in
            try memory.writeLittleEndian(UInt32(0x1122_3344), to: GuestAddress(0xffff_ffff_ffff_fffc))
            return try memory.readLittleEndian(UInt32.self, from: GuestAddress(0xffff_ffff_ffff_fffc))
        }
        try expectEqual(value, 0x1122_3344)
        try expectError(.addressOverflow(GuestAddress(0xffff_ffff_ffff_fffd), length: 4)) {
            () throws(GuestMemoryError) in
            _ = try memory.readLittleEndian(UInt32.self, from: GuestAddress(0xffff_ffff_ffff_fffd))
        }
    },
    PortableTestCase("GuestMemoryMap", "zero-length accesses touch nothing") { () throws(TestFailure) in
        let memory = try sampleMemory()
        let empty = try expectNoError { () throws(GuestMemoryError) in
            try memory.write([], to: GuestAddress(0x5000))  // unmapped, but nothing to write
            try memory.checkRange(at: GuestAddress(0x5000), length: 0)
            try memory.fill(0xff, count: 0, at: GuestAddress(0x5000))
            return try memory.slice(at: GuestAddress(0x3fff), length: 0)
        }
        try expectEqual(try expectNoError { () throws(GuestMemoryError) in try memory.read(count: 0, from: .max) }, [])
        try expectEqual(empty.count, 0)
        try expectError(.unmappedAddress(GuestAddress(0x5000))) { () throws(GuestMemoryError) in
            _ = try memory.slice(at: GuestAddress(0x5000), length: 0)
        }
    },
    PortableTestCase("GuestMemoryMap", "accesses span adjacent regions") { () throws(TestFailure) in
        let memory = try sampleMemory()
        let bytes = (0..<16).map { UInt8($0) }
        try expectNoError { () throws(GuestMemoryError) in try memory.write(bytes, to: GuestAddress(0x2ff8)) }
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in try memory.read(count: 16, from: GuestAddress(0x2ff8)) },
            bytes)
        try expectEqual(memory.regions[0].hostAddress.load(fromByteOffset: 0x1fff, as: UInt8.self), 7)
        try expectEqual(memory.regions[1].hostAddress.load(as: UInt8.self), 8)
        let value = try expectNoError { () throws(GuestMemoryError) in
            try memory.writeLittleEndian(UInt64(0x0807_0605_0403_0201), to: GuestAddress(0x2ffd))
            return try memory.readLittleEndian(UInt64.self, from: GuestAddress(0x2ffd))
        }
        try expectEqual(value, 0x0807_0605_0403_0201)
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in try memory.read(count: 3, from: GuestAddress(0x2ffd)) },
            [1, 2, 3])
        let slices = try expectNoError { () throws(GuestMemoryError) in
            try memory.slices(at: GuestAddress(0x2ff0), length: 0x20)
        }
        try expectEqual(slices.map { $0.count }, [0x10, 0x10])
        try expectError(.crossesRegionBoundary(GuestAddress(0x2ff0), length: 0x20)) { () throws(GuestMemoryError) in
            _ = try memory.slice(at: GuestAddress(0x2ff0), length: 0x20)
        }
    },
    PortableTestCase("GuestMemoryMap", "failed accesses change nothing") { () throws(TestFailure) in
        let memory = try sampleMemory()
        // Runs from [0x3000, 0x4000) into the hole at 0x4000.
        let junk = [UInt8](repeating: 0xee, count: 0x20)
        try expectError(.partialAccess(GuestAddress(0x3ff0), length: 0x20, completed: 0x10)) {
            () throws(GuestMemoryError) in try memory.write(junk, to: GuestAddress(0x3ff0))
        }
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in try memory.read(count: 0x10, from: GuestAddress(0x3ff0))
            },
            [UInt8](repeating: 0, count: 0x10))
        try expectError(.partialAccess(GuestAddress(0x3ffc), length: 8, completed: 4)) {
            () throws(GuestMemoryError) in try memory.writeLittleEndian(UInt64.max, to: GuestAddress(0x3ffc))
        }
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in
                try memory.readLittleEndian(UInt32.self, from: GuestAddress(0x3ffc))
            }, 0)
        try expectError(.unmappedAddress(GuestAddress(0x4000))) { () throws(GuestMemoryError) in
            try memory.fill(1, count: 1, at: GuestAddress(0x4000))
        }
    },
    PortableTestCase("GuestMemoryMap", "hostile ranges get typed errors") { () throws(TestFailure) in
        let memory = try sampleMemory()
        let cases: [(UInt64, UInt64)] = [
            (UInt64.max, 2), (UInt64.max, UInt64.max), (0x1000, UInt64.max), (0, 1), (0x2000, 0x1_0000_0000),
            (0x8fff, 2), (0xffff_ffff_ffff_f000, 0x1001), (0x7fff, 1),
        ]
        for (address, length) in cases {
            try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in
                try memory.checkRange(at: GuestAddress(address), length: length)
            }
            try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in
                try memory.fill(0x77, count: length, at: GuestAddress(address))
            }
            try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in
                _ = try memory.slice(at: GuestAddress(address), length: length)
            }
            try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in
                _ = try memory.slices(at: GuestAddress(address), length: length)
            }
        }
        try expectError(.addressOverflow(GuestAddress(0x1000), length: UInt64.max)) { () throws(GuestMemoryError) in
            try memory.fill(0, count: UInt64.max, at: GuestAddress(0x1000))
        }
        try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in
            _ = try memory.read(count: -1, from: GuestAddress(0x1000))
        }
        // Nothing was filled by any refused call.
        let bytes = try expectNoError { () throws(GuestMemoryError) in
            try memory.read(count: 0x2000, from: GuestAddress(0x1000))
        }
        try expect(bytes.allSatisfy { $0 == 0 }, "a refused fill changed memory")
    },
    PortableTestCase("GuestMemoryMap", "plain values round-trip") { () throws(TestFailure) in
        let memory = try sampleMemory()
        let header = Header(magic: 0x7472_6976, flags: 3, count: 9, address: 0xdead_beef_0000)
        for address: UInt64 in [0x1000, 0x1003, 0x2ff4, 0x3ff0] {  // aligned, unaligned, spanning, at the end
            let copy = try expectNoError { () throws(GuestMemoryError) in
                try memory.writeValue(header, to: GuestAddress(address))
                return try memory.readValue(Header.self, from: GuestAddress(address))
            }
            try expectEqual(copy, header)
        }
        try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in
            try memory.writeValue(header, to: GuestAddress(0x3ff1))
        }
    },
    PortableTestCase("GuestMemoryMap", "little-endian integers have a fixed byte order") { () throws(TestFailure) in
        let memory = try sampleMemory()
        try expectNoError { () throws(GuestMemoryError) in
            try memory.writeLittleEndian(UInt16(0x0102), to: GuestAddress(0x1001))
            try memory.writeLittleEndian(Int32(-2), to: GuestAddress(0x1010))
        }
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in try memory.read(count: 2, from: GuestAddress(0x1001)) },
            [0x02, 0x01])
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in try memory.read(count: 4, from: GuestAddress(0x1010)) },
            [0xfe, 0xff, 0xff, 0xff])
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in
                try memory.readLittleEndian(Int32.self, from: GuestAddress(0x1010))
            },
            -2)
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in
                try memory.readLittleEndian(UInt8.self, from: GuestAddress(0x1002))
            },
            1)
    },
]
