// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc

/// Why an aligned allocation was refused.
///
/// ```swift
/// do {
///     _ = try AlignedBuffer(byteCount: 4096, alignment: 3000)
/// } catch {
///     print(error)  // alignment 3000 is not a power of two
/// }
/// ```
public enum AlignmentError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The alignment is not a power of two.
    case notAPowerOfTwo(Int)
    /// The alignment is smaller than a pointer (8 bytes), which `posix_memalign` requires.
    case tooSmall(Int)
    /// The size is zero or negative.
    case invalidSize(Int)
    /// The allocator had no memory for this size.
    case outOfMemory(byteCount: Int)

    /// A one-line explanation naming the offending value.
    public var description: String {
        switch self {
        case .notAPowerOfTwo(let alignment): "alignment \(alignment) is not a power of two"
        case .tooSmall(let alignment): "alignment \(alignment) is below the pointer size"
        case .invalidSize(let size): "size \(size) is not positive"
        case .outOfMemory(let size): "out of memory allocating \(size) aligned bytes"
        }
    }
}

/// Zero-filled heap memory at a chosen alignment, freed with the value: for
/// `O_DIRECT` I/O buffers, page-aligned structures KVM reads, and test guests.
///
/// ```swift
/// let page = try AlignedBuffer.pageAligned(byteCount: 4096)
/// page.bytes[0] = 0xF4  // hlt
/// print(UInt(bitPattern: page.bytes.baseAddress) % 4096)  // 0
/// ```
@safe  // SAFETY: owns its allocation (freed in deinit); users of `bytes` mark their own accesses.
public struct AlignedBuffer: ~Copyable, @unchecked Sendable {
    // Sendable: the memory is reachable only through this non-copyable owner,
    // so it crosses threads only by moving with it.

    /// The memory: `byteCount` bytes starting at an `alignment`-aligned address.
    public let bytes: UnsafeMutableRawBufferPointer
    /// The alignment the address honours.
    public let alignment: Int

    /// The system page size (`sysconf(_SC_PAGESIZE)`).
    public static var pageSize: Int { sysconf(Int32(_SC_PAGESIZE)) }

    /// Allocates `byteCount` zeroed bytes aligned to `alignment` (a power of two, at least 8).
    public init(byteCount: Int, alignment: Int) throws(AlignmentError) {
        if byteCount <= 0 { throw .invalidSize(byteCount) }
        if alignment <= 0 || alignment & (alignment - 1) != 0 { throw .notAPowerOfTwo(alignment) }
        if alignment < MemoryLayout<Int>.size { throw .tooSmall(alignment) }
        var pointer: UnsafeMutableRawPointer?
        // SAFETY: &pointer is a local out-parameter that posix_memalign fills; alignment was checked above to be a
        // power of two >= sizeof(void *), as it requires, and on failure the result is not used.
        guard unsafe posix_memalign(&pointer, alignment, byteCount) == 0, let pointer = unsafe pointer else {
            throw .outOfMemory(byteCount: byteCount)
        }
        // SAFETY: `pointer` is the fresh byteCount-byte block from posix_memalign, owned only by this value from
        // here on (freed in deinit); memset and the buffer pointer cover exactly those byteCount bytes.
        unsafe memset(pointer, 0, byteCount)
        unsafe bytes = unsafe UnsafeMutableRawBufferPointer(start: pointer, count: byteCount)
        self.alignment = alignment
    }

    /// Allocates `byteCount` zeroed bytes starting on a page boundary.
    public static func pageAligned(byteCount: Int) throws(AlignmentError) -> AlignedBuffer {
        try AlignedBuffer(byteCount: byteCount, alignment: pageSize)
    }

    /// The size in bytes.
    public var count: Int { unsafe bytes.count }  // SAFETY: reads the stored length, not the memory.

    // SAFETY: baseAddress came from posix_memalign in init; the type is ~Copyable, so this runs and frees it once.
    deinit { unsafe free(bytes.baseAddress) }
}
