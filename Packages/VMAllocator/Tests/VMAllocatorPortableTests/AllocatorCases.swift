// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMAllocator

private func range(_ start: UInt64, _ last: UInt64) -> AddressRange { AddressRange(start: start, last: last) }

/// Address and id allocator cases (host and riscv64).
public let allCases: [PortableTestCase] = [
    PortableTestCase("AddressAllocator", "first match takes the lowest aligned block") { () throws(TestFailure) in
        var pool = try expectNoError { () throws(AllocatorError) in try AddressAllocator(base: 0x1001, size: 0x10000) }
        let first = try expectNoError { () throws(AllocatorError) in try pool.allocate(size: 0x100, alignment: 0x1000) }
        try expectEqual(first, range(0x2000, 0x20ff))
        let second = try expectNoError { () throws(AllocatorError) in try pool.allocate(size: 0x10) }
        try expectEqual(second, range(0x1001, 0x1010))
        try expectEqual(pool.freeRanges, [range(0x1011, 0x1fff), range(0x2100, 0x11000)])
    },
    PortableTestCase("AddressAllocator", "last match takes the highest aligned block") { () throws(TestFailure) in
        var pool = try expectNoError { () throws(AllocatorError) in try AddressAllocator(base: 0x1000, size: 0x10000) }
        let top = try expectNoError { () throws(AllocatorError) in try pool.allocate(size: 0x100, policy: .lastMatch) }
        try expectEqual(top, range(0x10f00, 0x10fff))
        let aligned = try expectNoError { () throws(AllocatorError) in
            try pool.allocate(size: 0x100, alignment: 0x4000, policy: .lastMatch)
        }
        try expectEqual(aligned, range(0x10000, 0x100ff))
    },
    PortableTestCase("AddressAllocator", "exact match needs a wholly free, aligned block") { () throws(TestFailure) in
        var pool = try expectNoError { () throws(AllocatorError) in try AddressAllocator(base: 0, size: 0x10000) }
        let fixed = try expectNoError { () throws(AllocatorError) in
            try pool.allocate(size: 0x1000, policy: .exactMatch(0x4000))
        }
        try expectEqual(fixed, range(0x4000, 0x4fff))
        try expectError(.rangeUnavailable(range(0x4800, 0x57ff))) { () throws(AllocatorError) in
            _ = try pool.allocate(size: 0x1000, policy: .exactMatch(0x4800))
        }
        try expectError(.invalidAlignment(0x1000)) { () throws(AllocatorError) in
            _ = try pool.allocate(size: 0x1000, alignment: 0x1000, policy: .exactMatch(0x5800))
        }
        try expectError(.rangeUnavailable(range(0xf000, 0x10fff))) { () throws(AllocatorError) in
            _ = try pool.allocate(size: 0x2000, policy: .exactMatch(0xf000))
        }
        try expectError(.rangeOverflow(base: UInt64.max, size: 2)) { () throws(AllocatorError) in
            _ = try pool.allocate(size: 2, policy: .exactMatch(UInt64.max))
        }
    },
    PortableTestCase("AddressAllocator", "free merges with both neighbours") { () throws(TestFailure) in
        var pool = try expectNoError { () throws(AllocatorError) in try AddressAllocator(base: 0, size: 0x3000) }
        let a = try expectNoError { () throws(AllocatorError) in try pool.allocate(size: 0x1000) }
        let b = try expectNoError { () throws(AllocatorError) in try pool.allocate(size: 0x1000) }
        let c = try expectNoError { () throws(AllocatorError) in try pool.allocate(size: 0x1000) }
        try expectEqual(pool.freeRanges.count, 0)
        try expectNoError { () throws(AllocatorError) in try pool.free(a) }
        try expectNoError { () throws(AllocatorError) in try pool.free(c) }
        try expectEqual(pool.freeRanges, [range(0, 0xfff), range(0x2000, 0x2fff)])
        try expectNoError { () throws(AllocatorError) in try pool.free(b) }
        try expectEqual(pool.freeRanges, [range(0, 0x2fff)])
        try expectEqual(pool.freeBytes, 0x3000)
    },
    PortableTestCase("AddressAllocator", "refuses bad requests with typed errors") { () throws(TestFailure) in
        try expectError(.zeroSize) { () throws(AllocatorError) in _ = try AddressAllocator(base: 0, size: 0) }
        try expectError(.rangeOverflow(base: UInt64.max, size: 2)) { () throws(AllocatorError) in
            _ = try AddressAllocator(base: UInt64.max, size: 2)
        }
        var pool = try expectNoError { () throws(AllocatorError) in try AddressAllocator(base: 0x100, size: 0x100) }
        try expectError(.zeroSize) { () throws(AllocatorError) in _ = try pool.allocate(size: 0) }
        try expectError(.invalidAlignment(3)) { () throws(AllocatorError) in
            _ = try pool.allocate(size: 1, alignment: 3)
        }
        try expectError(.invalidAlignment(0)) { () throws(AllocatorError) in
            _ = try pool.allocate(size: 1, alignment: 0)
        }
        try expectError(.outOfSpace(size: 0x101, alignment: 1)) { () throws(AllocatorError) in
            _ = try pool.allocate(size: 0x101)
        }
        // 0x100..0x1ff holds no 0x100-aligned 0x100-byte block except 0x100 itself; 0x200 alignment fails.
        try expectError(.outOfSpace(size: 0x10, alignment: 0x200)) { () throws(AllocatorError) in
            _ = try pool.allocate(size: 0x10, alignment: 0x200)
        }
        let block = try expectNoError { () throws(AllocatorError) in try pool.allocate(size: 0x10) }
        try expectError(.notAllocated(range(0x100, 0x107))) { () throws(AllocatorError) in
            try pool.free(range(0x100, 0x107))
        }
        try expectNoError { () throws(AllocatorError) in try pool.free(block) }
        try expectError(.notAllocated(block)) { () throws(AllocatorError) in try pool.free(block) }
    },
    PortableTestCase("AddressAllocator", "the pool may end at 2^64 - 1") { () throws(TestFailure) in
        var pool = try expectNoError { () throws(AllocatorError) in
            try AddressAllocator(base: 0xffff_ffff_ffff_0000, size: 0x1_0000)
        }
        let top = try expectNoError { () throws(AllocatorError) in
            try pool.allocate(size: 0x1000, alignment: 0x1000, policy: .lastMatch)
        }
        try expectEqual(top, range(0xffff_ffff_ffff_f000, UInt64.max))
        try expectEqual(pool.allocation(containing: UInt64.max), top)
        try expectNoError { () throws(AllocatorError) in try pool.free(top) }
        try expectEqual(pool.freeRanges, [range(0xffff_ffff_ffff_0000, UInt64.max)])
        var whole = try expectNoError { () throws(AllocatorError) in try AddressAllocator(base: 1, size: UInt64.max) }
        try expectEqual(whole.pool.size, UInt64.max)
        let aligned = try expectNoError { () throws(AllocatorError) in
            try whole.allocate(size: 1 << 62, alignment: 1 << 62, policy: .lastMatch)
        }
        try expectEqual(aligned.start, 3 << 62)
    },
    PortableTestCase("AddressAllocator", "allocation(containing:) finds the owning block") { () throws(TestFailure) in
        var pool = try expectNoError { () throws(AllocatorError) in try AddressAllocator(base: 0, size: 0x10000) }
        let a = try expectNoError { () throws(AllocatorError) in try pool.allocate(size: 0x100) }
        let b = try expectNoError { () throws(AllocatorError) in try pool.allocate(size: 0x300) }
        try expectEqual(pool.allocation(containing: 0x250), b)
        try expectEqual(pool.allocation(containing: 0x0ff), a)
        try expect(pool.allocation(containing: 0x400) == nil)
        try expect(pool.allocation(containing: 0x20000) == nil)
        try expectEqual(pool.allocatedRanges, [a, b])
    },
    PortableTestCase("AddressAllocator", "random operations match a bitmap model") { () throws(TestFailure) in
        // 512 units; every operation is mirrored in a plain bitmap and the results compared.
        var pool = try expectNoError { () throws(AllocatorError) in try AddressAllocator(base: 0, size: 512) }
        var used = [Bool](repeating: false, count: 512)
        var live: [AddressRange] = []
        var random = SplitMix64(seed: 42)
        for _ in 0..<3000 {
            if live.isEmpty || random.next() % 3 != 0 {
                let size = 1 + random.next() % 24
                let alignment = UInt64(1) << (random.next() % 5)
                let last = random.next() % 2 == 0
                // Model: scan for the lowest / highest aligned free block.
                var expected: UInt64?
                var candidates = Array(stride(from: UInt64(0), through: 512 - size, by: Int(alignment)))
                if last { candidates.reverse() }
                for start in candidates where !used[Int(start)..<Int(start + size)].contains(true) {
                    expected = start
                    break
                }
                let got: AddressRange?
                do throws(AllocatorError) {
                    got = try pool.allocate(size: size, alignment: alignment, policy: last ? .lastMatch : .firstMatch)
                } catch {
                    got = nil
                }
                try expectEqual(got?.start, expected, "allocator and model disagree")
                if let got {
                    for unit in Int(got.start)...Int(got.last) { used[unit] = true }
                    live.append(got)
                }
            } else {
                let victim = live.remove(at: Int(random.next() % UInt64(live.count)))
                try expectNoError { () throws(AllocatorError) in try pool.free(victim) }
                for unit in Int(victim.start)...Int(victim.last) { used[unit] = false }
            }
            // Free ranges must be maximal (merged) and match the model.
            let ranges = pool.freeRanges
            for index in ranges.indices.dropFirst() {
                try expect(ranges[index - 1].last + 1 < ranges[index].start, "adjacent free ranges not merged")
            }
            try expectEqual(pool.freeBytes, UInt64(used.filter { !$0 }.count))
        }
    },
    PortableTestCase("AddressAllocator", "many small blocks allocate and free in any order") { () throws(TestFailure) in
        var pool = try expectNoError { () throws(AllocatorError) in
            try AddressAllocator(base: 0x1_0000_0000, size: 1 << 32)
        }
        var blocks: [AddressRange] = []
        for _ in 0..<2000 {
            blocks.append(
                try expectNoError { () throws(AllocatorError) in try pool.allocate(size: 0x1000, alignment: 0x1000) })
        }
        try expectEqual(blocks.last?.start ?? 0, 0x1_0000_0000 + 1999 * 0x1000)
        for index in stride(from: 0, to: blocks.count, by: 2) {
            try expectNoError { () throws(AllocatorError) in try pool.free(blocks[index]) }
        }
        try expectEqual(pool.freeRanges.count, 1001)
        for index in stride(from: 1, to: blocks.count, by: 2) {
            try expectNoError { () throws(AllocatorError) in try pool.free(blocks[index]) }
        }
        try expectEqual(pool.freeRanges, [range(0x1_0000_0000, 0x1_ffff_ffff)])
    },
    PortableTestCase("IdAllocator", "hands out the lowest free id and reuses freed ids") { () throws(TestFailure) in
        var ids = try expectNoError { () throws(AllocatorError) in try IdAllocator(range: 5...8) }
        try expectEqual(try expectNoError { () throws(AllocatorError) in try ids.allocate() }, 5)
        try expectEqual(try expectNoError { () throws(AllocatorError) in try ids.allocate() }, 6)
        try expectEqual(try expectNoError { () throws(AllocatorError) in try ids.allocate(id: 8) }, 8)
        try expectEqual(try expectNoError { () throws(AllocatorError) in try ids.allocate() }, 7)
        try expectError(.idsExhausted) { () throws(AllocatorError) in _ = try ids.allocate() }
        try expectNoError { () throws(AllocatorError) in try ids.free(6) }
        try expect(!ids.isAllocated(6))
        try expect(ids.isAllocated(7))
        try expectEqual(try expectNoError { () throws(AllocatorError) in try ids.allocate() }, 6)
    },
    PortableTestCase("IdAllocator", "rejects ids outside the range, double frees and reuse") { () throws(TestFailure) in
        var ids = try expectNoError { () throws(AllocatorError) in try IdAllocator(range: 1...3) }
        try expectError(.idOutOfRange(0)) { () throws(AllocatorError) in _ = try ids.allocate(id: 0) }
        try expectError(.idOutOfRange(4)) { () throws(AllocatorError) in try ids.free(4) }
        try expectError(.idNotAllocated(2)) { () throws(AllocatorError) in try ids.free(2) }
        _ = try expectNoError { () throws(AllocatorError) in try ids.allocate(id: 2) }
        try expectError(.idInUse(2)) { () throws(AllocatorError) in _ = try ids.allocate(id: 2) }
        try expectNoError { () throws(AllocatorError) in try ids.free(2) }
        try expectError(.idNotAllocated(2)) { () throws(AllocatorError) in try ids.free(2) }
        try expectEqual(ids.freeCount, 3)
    },
    PortableTestCase("IdAllocator", "covers the full 32-bit range") { () throws(TestFailure) in
        var ids = try expectNoError { () throws(AllocatorError) in try IdAllocator(range: 0...UInt32.max) }
        try expectEqual(ids.freeCount, 1 << 32)
        _ = try expectNoError { () throws(AllocatorError) in try ids.allocate(id: UInt32.max) }
        try expectEqual(try expectNoError { () throws(AllocatorError) in try ids.allocate() }, 0)
        try expectNoError { () throws(AllocatorError) in try ids.free(UInt32.max) }
        try expectEqual(ids.freeCount, (1 << 32) - 1)
    },
]
