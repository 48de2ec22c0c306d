// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Testing
import VMMemory
import VirtioQueue

/// Error messages name the failed check and its values (host only: the portable
/// cases avoid String comparisons, which pull Unicode tables into Embedded builds).
@Suite struct ErrorDescriptionTests {
    @Test func chainErrorsNameTheirValues() {
        let cases: [(ChainError, String)] = [
            (.indexOutOfRange(index: 9, tableSize: 8), "descriptor index 9 is outside a table of 8 entries"),
            (.chainTooLong(limit: 256), "chain has more than 256 descriptors (a loop or an over-long chain)"),
            (.nestedIndirect, "indirect descriptor inside an indirect table"),
            (.indirectWithNext, "indirect descriptor with the NEXT flag"),
            (.indirectInChain, "indirect descriptor after other descriptors of a packed chain"),
            (.indirectTableLength(24), "indirect table length 24 is zero or not a multiple of 16"),
            (.indirectTableTooLarge(entries: 65537), "indirect table of 65537 entries is too large"),
            (
                .indirectTableNotInMemory(GuestAddress(0x3000), length: 32),
                "indirect table at 0x3000 of 32 bytes is not in guest memory"
            ),
            (.readableAfterWritable, "device-readable descriptor after a device-writable one"),
            (
                .bufferOverflow(GuestAddress(0xffff_ffff_ffff_fff0), length: 32),
                "buffer at 0xfffffffffffffff0 of 32 bytes wraps past 2^64"
            ),
            (
                .bufferNotInMemory(GuestAddress(0x60_0000), length: 4),
                "buffer at 0x600000 of 4 bytes is not in guest memory"
            ),
            (.totalLengthTooLarge(4_294_967_297), "chain buffers add up to 4294967297 bytes, more than 2^32"),
            (.descriptorNotAvailable(slot: 2), "descriptor 2 continues a chain but is not available"),
            (
                .descriptorRead(.unmappedAddress(GuestAddress(0x10))),
                "descriptor read failed: guest address 0x10 is not in any memory region"
            ),
        ]
        for (error, text) in cases { #expect(error.description == text) }
    }

    @Test func queueErrorsNameTheirValues() {
        let cases: [(VirtioQueueError, String)] = [
            (.invalidMaximumSize(0), "maximum queue size 0 is not in 1...32768"),
            (.invalidSize(6, maximum: 8, format: .split), "queue size 6 is not a power of two in 1...8"),
            (.invalidSize(0, maximum: 8, format: .packed), "queue size 0 is not in 1...8"),
            (
                .misalignedArea(.descriptors, GuestAddress(0x1008), alignment: 16),
                "descriptor area at 0x1008 is not aligned to 16 bytes"
            ),
            (
                .areaOverflow(.driver, GuestAddress(0xffff_ffff_ffff_fff0), length: 38),
                "driver area at 0xfffffffffffffff0 of 38 bytes wraps past 2^64"
            ),
            (
                .areaNotInMemory(.device, GuestAddress(0x3f_ffc0), length: 134),
                "device area at 0x3fffc0 of 134 bytes is not in guest memory"
            ),
            (.overlappingAreas(.driver, .device), "driver area and device area overlap"),
            (.notReady, "queue is not ready"),
            (.wrongFormat(.split), "operation needs a packed ring"),
            (.wrongFormat(.packed), "operation needs a split ring"),
            (.invalidState, "saved queue state is inconsistent"),
            (
                .ringAccess(.driver, .misaligned(GuestAddress(0x2003), alignment: 2)),
                "driver area access failed: guest address 0x2003 is not aligned to 2 bytes"
            ),
            (
                .availableIndexJump(next: 0, available: 9, size: 8),
                "available index 9 is more than 8 entries ahead of 0"
            ),
            (
                .invalidChain(head: 3, .nestedIndirect),
                "descriptor chain at 3: indirect descriptor inside an indirect table"
            ),
            (.invalidUsedId(8, size: 8), "used id 8 is not a descriptor of a queue of 8 entries"),
            (.invalidUsedCount(0, size: 4), "used buffer of 0 descriptors is not in 1...4"),
            (.chainExhausted(requested: 2, remaining: 1), "2 bytes requested but the chain has 1 left"),
            (
                .bufferAccess(.unmappedAddress(GuestAddress(0x10))),
                "buffer access failed: guest address 0x10 is not in any memory region"
            ),
        ]
        for (error, text) in cases { #expect(error.description == text) }
    }
}
