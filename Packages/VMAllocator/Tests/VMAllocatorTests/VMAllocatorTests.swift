// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import Testing
import VMAllocator
import VMAllocatorPortableTests

extension PortableTestCase: CustomTestStringConvertible {
    /// "Suite: name", as Swift Testing lists the case.
    public var testDescription: String { "\(suite): \(name)" }
}

@Test(arguments: VMAllocatorPortableTests.allCases)
func portable(_ testCase: PortableTestCase) throws { try testCase.run() }

@Suite struct AddressAllocatorScaling {
    /// Expected O(log n): 20 000 fragmented free ranges must not make one allocation slow.
    @Test func fragmentedPoolStaysFast() throws {
        var pool = try AddressAllocator(base: 0, size: 1 << 40)
        var blocks: [AddressRange] = []
        for _ in 0..<40_000 { blocks.append(try pool.allocate(size: 0x1000)) }
        for index in stride(from: 0, to: blocks.count, by: 2) { try pool.free(blocks[index]) }
        #expect(pool.freeRanges.count == 20_001)
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for _ in 0..<10_000 {
                // A 0x2000 block fits only past the fragmented prefix: the augmented tree skips it.
                let block = try pool.allocate(size: 0x2000, alignment: 0x1000)
                try pool.free(block)
            }
        }
        #expect(elapsed < .seconds(2), "10 000 allocate/free pairs took \(elapsed)")
    }
}
