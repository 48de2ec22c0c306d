// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMMemory

/// Runs a memory operation that the case expects to succeed; a refusal fails the case.
func make<T>(
    _ message: StaticString = "unexpected GuestMemoryError", file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws(GuestMemoryError) -> T
) throws(TestFailure) -> T {
    do throws(GuestMemoryError) {
        return try body()
    } catch {
        throw TestFailure(message, file: file, line: line)
    }
}

/// Fails unless `body` throws exactly `expected`.
func expectError(
    _ expected: GuestMemoryError, file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws(GuestMemoryError) -> Void
) throws(TestFailure) {
    try expectThrows(GuestMemoryError.self, file: file, line: line, matching: { $0 == expected }, body)
}

/// Two regions with a hole between them, and one touching the top of the address space:
/// [0x1000, 0x3000) [0x3000, 0x4000) hole [0x8000, 0x9000) ... [2^64 - 0x1000, 2^64)
func sampleMemory(trackDirtyPages: Bool = false) throws(TestFailure) -> GuestMemoryMap<BufferRegion> {
    try make { () throws(GuestMemoryError) in
        try GuestMemoryMap(regions: [
            BufferRegion(start: GuestAddress(0x8000), size: 0x1000, trackDirtyPages: trackDirtyPages),
            BufferRegion(start: GuestAddress(0x1000), size: 0x2000, trackDirtyPages: trackDirtyPages),
            BufferRegion(start: GuestAddress(0x3000), size: 0x1000, trackDirtyPages: trackDirtyPages),
            BufferRegion(
                start: GuestAddress(0xffff_ffff_ffff_f000), size: 0x1000, trackDirtyPages: trackDirtyPages),
        ])
    }
}

/// SplitMix64: a tiny seeded generator, so a failing sequence replays exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
