// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMMemory

/// Two regions with a hole between them, and one touching the top of the address space:
/// [0x1000, 0x3000) [0x3000, 0x4000) hole [0x8000, 0x9000) ... [2^64 - 0x1000, 2^64)
func sampleMemory(trackDirtyPages: Bool = false) throws(TestFailure) -> GuestMemoryMap<BufferRegion> {
    try expectNoError { () throws(GuestMemoryError) in
        try GuestMemoryMap(regions: [
            BufferRegion(start: GuestAddress(0x8000), size: 0x1000, trackDirtyPages: trackDirtyPages),
            BufferRegion(start: GuestAddress(0x1000), size: 0x2000, trackDirtyPages: trackDirtyPages),
            BufferRegion(start: GuestAddress(0x3000), size: 0x1000, trackDirtyPages: trackDirtyPages),
            BufferRegion(
                start: GuestAddress(0xffff_ffff_ffff_f000), size: 0x1000, trackDirtyPages: trackDirtyPages),
        ])
    }
}
