// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// One contiguous piece of guest physical memory backed by host memory.
///
/// A backend (an `mmap` mapping in `VMMemoryLinux`, a heap buffer in
/// ``BufferRegion``) provides where the region sits in the guest and where its
/// bytes live in the host. Regions are classes because they own their host
/// memory and release it exactly once, when the last reference goes away.
///
/// ```swift
/// let region = try BufferRegion(start: GuestAddress(0x1000), size: 0x1000)
/// let slice = try region.slice(at: MemoryRegionAddress(0x10), length: 4)
/// try slice.storeLittleEndian(UInt32(0xdead_beef), at: 0)
/// ```
public protocol GuestMemoryRegion: AnyObject, Sendable {
    /// The guest physical address of the region's first byte.
    var startAddress: GuestAddress { get }
    /// The region's length in bytes (never 0; `startAddress + size - 1` never wraps).
    var size: UInt64 { get }
    /// The host address of the region's first byte, valid for ``size`` bytes
    /// for as long as the region is alive.
    var hostAddress: UnsafeMutableRawPointer { get }
    /// Pages written through this library's write paths, when tracking is on.
    var dirtyBitmap: DirtyBitmap? { get }
}

extension GuestMemoryRegion {
    /// The guest address of the region's last byte.
    @inlinable
    public var lastAddress: GuestAddress { GuestAddress(startAddress.rawValue &+ (size &- 1)) }

    /// Whether `address` lies inside the region.
    @inlinable
    public func contains(_ address: GuestAddress) -> Bool {
        address >= startAddress && address <= lastAddress
    }

    /// The region-relative offset of `address`, or `nil` when it lies outside the region.
    @inlinable
    public func offset(of address: GuestAddress) -> MemoryRegionAddress? {
        guard contains(address) else { return nil }
        return MemoryRegionAddress(address.rawValue - startAddress.rawValue)
    }

    /// The guest address of a region-relative offset, or `nil` when it lies outside the region.
    @inlinable
    public func guestAddress(of offset: MemoryRegionAddress) -> GuestAddress? {
        guard offset.rawValue < size else { return nil }
        return GuestAddress(startAddress.rawValue + offset.rawValue)
    }

    /// A bounds-checked view of `length` bytes starting at region offset `offset`.
    @inlinable
    public func slice(at offset: MemoryRegionAddress, length: UInt64) throws(GuestMemoryError) -> VolatileSlice {
        guard offset.rawValue <= size, length <= size - offset.rawValue else {
            throw .regionOffsetOutOfRange(offset, length: length, regionSize: size)
        }
        // SAFETY: the guard keeps [offset, offset + length) inside the region, whose hostAddress is valid for
        // `size` bytes (GuestMemoryRegion contract); the slice is bounded by `length`.
        return unsafe VolatileSlice(
            base: hostAddress + Int(offset.rawValue), count: Int(length),
            dirty: dirtyBitmap?.view, dirtyOffset: offset.rawValue)
    }

    /// A view of the whole region.
    @inlinable
    public var wholeSlice: VolatileSlice {
        // SAFETY: hostAddress is valid for exactly `size` bytes while the region lives (GuestMemoryRegion contract).
        unsafe VolatileSlice(base: hostAddress, count: Int(size), dirty: dirtyBitmap?.view, dirtyOffset: 0)
    }
}

/// A region backed by a zero-filled heap buffer: the portable backend, used in
/// tests and on targets without `mmap` (Embedded Swift).
///
/// ```swift
/// let low = try BufferRegion(start: GuestAddress(0), size: 0x1000)
/// let high = try BufferRegion(start: GuestAddress(0x1000), size: 0x1000, trackDirtyPages: true)
/// let memory = try GuestMemoryMap(regions: [low, high])
/// try memory.writeLittleEndian(UInt64(1), to: GuestAddress(0xffc))  // spans both regions
/// ```
@safe  // SAFETY: owns its allocation (freed in deinit) and hands out its base only with its size.
public final class BufferRegion: GuestMemoryRegion, @unchecked Sendable {
    // @unchecked: the fields never change after init; the bytes are guest memory,
    // which the guest and device threads share by design.

    /// The guest physical address of the region's first byte.
    public let startAddress: GuestAddress
    /// The region's length in bytes.
    public let size: UInt64
    /// The heap buffer holding the region's bytes.
    public let hostAddress: UnsafeMutableRawPointer
    /// Pages written by the VMM, when created with `trackDirtyPages`.
    public let dirtyBitmap: DirtyBitmap?

    /// Allocates `size` zeroed bytes placed at guest address `start`.
    ///
    /// Fails for a zero size, a region that would wrap past 2^64, or a size the
    /// host cannot allocate.
    public init(start: GuestAddress, size: UInt64, trackDirtyPages: Bool = false) throws(GuestMemoryError) {
        guard size > 0 else { throw .emptyRegion(start) }
        guard start.checkedAdd(size - 1) != nil else { throw .regionWrapsAddressSpace(start, size: size) }
        guard size <= UInt64(Int.max) else { throw .hostAllocationFailed(size: size) }
        startAddress = start
        self.size = size
        // SAFETY: a fresh allocation of Int(size) bytes (size <= Int.max checked above), owned by this object;
        // it is zero-filled over exactly that length before anyone can see it.
        unsafe hostAddress = UnsafeMutableRawPointer.allocate(byteCount: Int(size), alignment: 64)
        unsafe hostAddress.initializeMemory(as: UInt8.self, repeating: 0, count: Int(size))
        dirtyBitmap = trackDirtyPages ? DirtyBitmap(size: size) : nil
    }

    // SAFETY: hostAddress came from `allocate` in init and is freed only here, once, when the last reference goes.
    deinit { unsafe hostAddress.deallocate() }
}
