// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMMSysUtil

@Suite struct AlignedBufferTests {
    @Test func pageAlignedAndZeroed() throws {
        let buffer = try AlignedBuffer.pageAligned(byteCount: 3 * 4096 + 5)
        #expect(AlignedBuffer.pageSize == 4096)
        #expect(UInt(bitPattern: buffer.bytes.baseAddress) % UInt(AlignedBuffer.pageSize) == 0)
        #expect(buffer.count == 3 * 4096 + 5)
        #expect(buffer.bytes.allSatisfy { $0 == 0 })
        buffer.bytes[buffer.count - 1] = 0xF4
        #expect(buffer.bytes[buffer.count - 1] == 0xF4)
    }

    @Test(arguments: [8, 64, 4096, 1 << 21])
    func honoursEveryPowerOfTwo(alignment: Int) throws {
        let buffer = try AlignedBuffer(byteCount: 100, alignment: alignment)
        #expect(UInt(bitPattern: buffer.bytes.baseAddress) % UInt(alignment) == 0)
        #expect(buffer.alignment == alignment)
    }

    @Test func badAlignmentAndSizeAreTypedErrors() {
        #expect(throws: AlignmentError.notAPowerOfTwo(48)) { _ = try AlignedBuffer(byteCount: 16, alignment: 48) }
        #expect(throws: AlignmentError.notAPowerOfTwo(0)) { _ = try AlignedBuffer(byteCount: 16, alignment: 0) }
        #expect(throws: AlignmentError.notAPowerOfTwo(-8)) { _ = try AlignedBuffer(byteCount: 16, alignment: -8) }
        #expect(throws: AlignmentError.tooSmall(4)) { _ = try AlignedBuffer(byteCount: 16, alignment: 4) }
        #expect(throws: AlignmentError.invalidSize(0)) { _ = try AlignedBuffer.pageAligned(byteCount: 0) }
        #expect(throws: AlignmentError.outOfMemory(byteCount: Int.max / 2)) {
            _ = try AlignedBuffer.pageAligned(byteCount: Int.max / 2)
        }
        #expect(AlignmentError.notAPowerOfTwo(48).description == "alignment 48 is not a power of two")
    }
}
