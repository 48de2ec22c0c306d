// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// Bounds-checked little-endian reads from an image, for the parsers.
struct ImageBytes {
    let bytes: [UInt8]

    var count: UInt64 { UInt64(bytes.count) }

    /// Throws unless `[offset, offset + length)` lies inside the image.
    func require(_ offset: UInt64, _ length: UInt64) throws(LoaderError) {
        let (end, overflow) = offset.addingReportingOverflow(length)
        if overflow || end > count { throw .truncated(offset: offset, length: length, size: count) }
    }

    func u8(_ offset: UInt64) throws(LoaderError) -> UInt8 {
        try require(offset, 1)
        return bytes[Int(offset)]
    }

    func u16(_ offset: UInt64) throws(LoaderError) -> UInt16 { UInt16(truncatingIfNeeded: try read(offset, 2)) }
    func u32(_ offset: UInt64) throws(LoaderError) -> UInt32 { UInt32(truncatingIfNeeded: try read(offset, 4)) }
    func u64(_ offset: UInt64) throws(LoaderError) -> UInt64 { try read(offset, 8) }

    private func read(_ offset: UInt64, _ size: Int) throws(LoaderError) -> UInt64 {
        try require(offset, UInt64(size))
        var value: UInt64 = 0
        let base = Int(offset)
        for index in stride(from: size - 1, through: 0, by: -1) { value = value << 8 | UInt64(bytes[base + index]) }
        return value
    }
}

/// Little-endian stores into a byte array whose size the caller controls.
extension Array where Element == UInt8 {
    mutating func storeLittleEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        for index in 0..<(T.bitWidth / 8) { self[offset + index] = UInt8(truncatingIfNeeded: value >> (index * 8)) }
    }

    func loadLittleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for index in stride(from: T.bitWidth / 8 - 1, through: 0, by: -1) {
            value = value << 8 | T(self[offset + index])
        }
        return value
    }
}

/// Copies `bytes[range]` into guest memory at `address`, mapping failures to ``LoaderError``.
func copy(
    _ bytes: [UInt8], _ range: Range<Int>, to address: GuestAddress, memory: some GuestMemory
) throws(LoaderError) {
    // SAFETY: the buffer covers bytes[range], which the caller bounds-checked against the array.
    let failure: GuestMemoryError? = unsafe bytes.withUnsafeBytes { raw in
        do throws(GuestMemoryError) {
            try unsafe memory.write(UnsafeRawBufferPointer(rebasing: raw[range]), to: address)
            return nil
        } catch {
            return error
        }
    }
    if let failure { throw .memory(failure) }
}
