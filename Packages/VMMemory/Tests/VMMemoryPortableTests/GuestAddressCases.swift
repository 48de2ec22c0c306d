// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMMemory

let guestAddressCases: [PortableTestCase] = [
    PortableTestCase("GuestAddress", "checked arithmetic stops at the edges") { () throws(TestFailure) in
        try expectEqual(GuestAddress(0x1000).checkedAdd(0x20), GuestAddress(0x1020))
        try expectEqual(GuestAddress.max.checkedAdd(0), .max)
        try expectEqual(GuestAddress.max.checkedAdd(1), nil)
        try expectEqual(GuestAddress(1).checkedAdd(UInt64.max), nil)
        try expectEqual(GuestAddress(0x10).checkedSubtract(0x10), .zero)
        try expectEqual(GuestAddress(0x10).checkedSubtract(0x11), nil)
    },
    PortableTestCase("GuestAddress", "wrapping arithmetic wraps modulo 2^64") { () throws(TestFailure) in
        try expectEqual(GuestAddress.max.wrappingAdd(1), .zero)
        try expectEqual(GuestAddress.max.wrappingAdd(0x11), GuestAddress(0x10))
        try expectEqual(GuestAddress.zero.wrappingSubtract(1), .max)
    },
    PortableTestCase("GuestAddress", "offsets between addresses") { () throws(TestFailure) in
        try expectEqual(GuestAddress(0x1800).offset(from: GuestAddress(0x1000)), 0x800)
        try expectEqual(GuestAddress(0x1000).offset(from: GuestAddress(0x1800)), nil)
        try expectEqual(GuestAddress.max.offset(from: .zero), UInt64.max)
    },
    PortableTestCase("GuestAddress", "alignment") { () throws(TestFailure) in
        try expect(GuestAddress(0x2000).isAligned(to: 0x1000))
        try expect(!GuestAddress(0x2001).isAligned(to: 2))
        try expect(!GuestAddress(0x2000).isAligned(to: 0))
        try expect(!GuestAddress(0x2000).isAligned(to: 3), "3 is not a power of two")
        try expectEqual(GuestAddress(0x1234).alignedDown(to: 0x1000), GuestAddress(0x1000))
        try expectEqual(GuestAddress(0x1234).alignedUp(to: 0x1000), GuestAddress(0x2000))
        try expectEqual(GuestAddress(0x2000).alignedUp(to: 0x1000), GuestAddress(0x2000))
        try expectEqual(GuestAddress.max.alignedUp(to: 0x1000), nil)
        try expectEqual(
            GuestAddress(0xffff_ffff_ffff_f000).alignedUp(to: 0x1000), GuestAddress(0xffff_ffff_ffff_f000))
        try expectEqual(GuestAddress(5).alignedUp(to: 6), nil)
        try expectEqual(GuestAddress(5).alignedDown(to: 0), nil)
    },
    PortableTestCase("GuestAddress", "region-relative addresses") { () throws(TestFailure) in
        let region = try expectNoError { () throws(GuestMemoryError) in
            try BufferRegion(start: GuestAddress(0x10_0000), size: 0x1000)
        }
        try expectEqual(region.offset(of: GuestAddress(0x10_0010)), MemoryRegionAddress(0x10))
        try expectEqual(region.offset(of: GuestAddress(0x10_1000)), nil)
        try expectEqual(region.offset(of: GuestAddress(0xf_ffff)), nil)
        try expectEqual(region.guestAddress(of: MemoryRegionAddress(0xfff)), GuestAddress(0x10_0fff))
        try expectEqual(region.guestAddress(of: MemoryRegionAddress(0x1000)), nil)
        try expectEqual(region.lastAddress, GuestAddress(0x10_0fff))
        try expectEqual(MemoryRegionAddress(UInt64.max).checkedAdd(1), nil)
    },
]
