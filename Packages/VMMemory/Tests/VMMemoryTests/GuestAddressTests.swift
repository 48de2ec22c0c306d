// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Testing
import VMMemory

/// Host-only: the portable cases avoid String comparison (it pulls Unicode tables
/// into Embedded builds), so the textual forms are checked here.
@Suite struct GuestAddressTests {
    @Test func descriptionsAreHexadecimal() {
        #expect(GuestAddress(0x1000).description == "0x1000")
        #expect(GuestAddress.zero.description == "0x0")
        #expect(GuestAddress.max.description == "0xffffffffffffffff")
        #expect(MemoryRegionAddress(0xab).description == "0xab")
        #expect(
            GuestMemoryError.addressOverflow(GuestAddress(0xffff_ffff_ffff_fffe), length: 3).description
                == "range at 0xfffffffffffffffe of 3 bytes wraps past 2^64")
    }
}
