// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A bounds-checked window onto guest memory inside one region.
///
/// The bytes behind a slice are shared with a running guest and may change at
/// any moment, so a slice never hands out Swift values that alias them: every
/// read copies out and every write copies in, through raw pointers the
/// optimizer cannot cache across calls. Offsets and lengths are checked
/// against the slice, with a typed error instead of a trap.
///
/// A slice does not keep its region alive: use it while you hold the memory
/// map or region it came from.
///
/// ```swift
/// let slice = try memory.slice(at: GuestAddress(0x1000), length: 16)
/// try slice.storeLittleEndian(UInt16(0x1234), at: 2)
/// let header = try slice.subslice(at: 0, length: 4)
/// print(try header.loadLittleEndian(UInt16.self, at: 2))  // 4660
/// ```
@safe  // SAFETY: every access through the base pointer is checked against `count` first.
@frozen
public struct VolatileSlice: @unchecked Sendable {
    // @unchecked: a slice is a pointer and a length into guest memory, which
    // the guest and device threads share by design.

    /// The host address of the slice's first byte. Raw access past ``count``
    /// bytes is outside the slice; prefer the checked methods.
    public let baseAddress: UnsafeMutableRawPointer
    /// The slice's length in bytes.
    public let count: Int
    @usableFromInline let dirty: DirtyBitmapView?
    @usableFromInline let dirtyOffset: UInt64

    @inlinable
    init(base: UnsafeMutableRawPointer, count: Int, dirty: DirtyBitmapView?, dirtyOffset: UInt64) {
        // SAFETY: only stores the pointer; this internal init's callers (region/memory slice, subslice) all pass a
        // base valid for `count` bytes, checked against the region's or parent slice's bounds first.
        unsafe self.baseAddress = unsafe base
        self.count = count
        self.dirty = dirty
        self.dirtyOffset = dirtyOffset
    }

    /// Checks that `[offset, offset + length)` lies inside the slice.
    @inlinable
    func check(_ offset: UInt64, _ length: UInt64) throws(GuestMemoryError) {
        let size = UInt64(count)
        guard offset <= size, length <= size - offset else {
            throw .sliceOutOfBounds(offset: offset, length: length, sliceSize: size)
        }
    }

    /// Records a write to `[offset, offset + length)` in the region's dirty bitmap.
    @inlinable
    func noteWrite(_ offset: UInt64, _ length: UInt64) {
        dirty?.mark(offset: dirtyOffset &+ offset, length: length)
    }

    /// Records the whole slice as written in its region's dirty bitmap, for writes
    /// made behind this library's back (a kernel `preadv`, a vhost backend).
    @inlinable
    public func markDirty() { noteWrite(0, UInt64(count)) }

    /// The part of this slice at `offset` of `length` bytes.
    @inlinable
    public func subslice(at offset: UInt64, length: UInt64) throws(GuestMemoryError) -> VolatileSlice {
        try check(offset, length)
        // SAFETY: check(offset, length) keeps [offset, offset + length) inside this slice.
        return unsafe VolatileSlice(
            base: baseAddress + Int(offset), count: Int(length), dirty: dirty, dirtyOffset: dirtyOffset &+ offset)
    }

    /// Copies `buffer.count` bytes starting at `offset` into `buffer`.
    @inlinable
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64 = 0) throws(GuestMemoryError) {
        try check(offset, UInt64(buffer.count))
        guard let destination = buffer.baseAddress else { return }
        // SAFETY: check above keeps [offset, offset + buffer.count) in the slice; the destination is that long.
        unsafe destination.copyMemory(from: baseAddress + Int(offset), byteCount: buffer.count)
    }

    /// Copies `bytes` into the slice starting at `offset`.
    @inlinable
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64 = 0) throws(GuestMemoryError) {
        try check(offset, UInt64(bytes.count))
        guard let source = bytes.baseAddress else { return }
        // SAFETY: check above keeps [offset, offset + bytes.count) in the slice; the source is that long.
        unsafe (baseAddress + Int(offset)).copyMemory(from: source, byteCount: bytes.count)
        noteWrite(offset, UInt64(bytes.count))
    }

    /// Copies `count` bytes starting at `offset` into a new array.
    @inlinable
    public func read(count: Int, at offset: UInt64 = 0) throws(GuestMemoryError) -> [UInt8] {
        guard count >= 0 else {
            throw .sliceOutOfBounds(
                offset: offset, length: UInt64(truncatingIfNeeded: count), sliceSize: UInt64(self.count))
        }
        try check(offset, UInt64(count))
        return unsafe [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            // SAFETY: the check above keeps [offset, offset + count) inside the slice.
            unsafe UnsafeMutableRawBufferPointer(buffer).copyMemory(
                from: UnsafeRawBufferPointer(start: baseAddress + Int(offset), count: count))
            initialized = count
        }
    }

    /// Copies `bytes` into the slice starting at `offset`.
    @inlinable
    public func write(_ bytes: [UInt8], at offset: UInt64 = 0) throws(GuestMemoryError) {
        try check(offset, UInt64(bytes.count))
        // SAFETY: the check above keeps [offset, offset + bytes.count) inside the slice.
        unsafe bytes.withUnsafeBytes { source in
            guard let start = source.baseAddress else { return }
            unsafe (baseAddress + Int(offset)).copyMemory(from: start, byteCount: source.count)
        }
        noteWrite(offset, UInt64(bytes.count))
    }

    /// Reads a little-endian integer at `offset` (any alignment).
    @inlinable
    public func loadLittleEndian<T: FixedWidthInteger & BitwiseCopyable>(
        _: T.Type = T.self, at offset: UInt64
    ) throws(GuestMemoryError) -> T {
        try check(offset, UInt64(MemoryLayout<T>.size))
        // SAFETY: check above keeps the T-sized read at `offset` inside the slice; loadUnaligned needs no alignment.
        return unsafe T(littleEndian: baseAddress.loadUnaligned(fromByteOffset: Int(offset), as: T.self))
    }

    /// Writes `value` as a little-endian integer at `offset` (any alignment).
    @inlinable
    public func storeLittleEndian<T: FixedWidthInteger & BitwiseCopyable>(
        _ value: T, at offset: UInt64
    ) throws(GuestMemoryError) {
        try check(offset, UInt64(MemoryLayout<T>.size))
        // SAFETY: check above keeps the T-sized write at `offset` inside the slice; storeBytes needs no alignment.
        unsafe baseAddress.storeBytes(of: value.littleEndian, toByteOffset: Int(offset), as: T.self)
        noteWrite(offset, UInt64(MemoryLayout<T>.size))
    }

    /// Sets every byte of the slice to `byte`.
    @inlinable
    public func fill(_ byte: UInt8) {
        // SAFETY: writes exactly `count` bytes from the base: the slice's own extent.
        unsafe baseAddress.initializeMemory(as: UInt8.self, repeating: byte, count: count)
        noteWrite(0, UInt64(count))
    }

    /// Copies `min(count, destination.count)` bytes into `destination`, returning the count.
    @inlinable
    @discardableResult
    public func copy(to destination: VolatileSlice) -> Int {
        let length = Swift.min(count, destination.count)
        // memmove: two slices of the same guest memory may overlap.
        // SAFETY: length <= both counts, so each side stays in its slice; copyMemory allows overlapping ranges.
        unsafe destination.baseAddress.copyMemory(from: baseAddress, byteCount: length)
        destination.noteWrite(0, UInt64(length))
        return length
    }
}
