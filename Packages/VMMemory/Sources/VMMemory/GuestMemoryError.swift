// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Why a guest memory access or layout was refused.
///
/// Every address and length that reaches guest memory may come from a hostile
/// guest; each check that fails produces one of these values instead of a trap.
///
/// ```swift
/// do {
///     try memory.write([1, 2, 3], to: GuestAddress(0xffff_ffff_ffff_fffe))
/// } catch .addressOverflow(let address, let length) {
///     print("range at \(address) of \(length) bytes wraps past 2^64")
/// } catch {
///     print(error)
/// }
/// ```
public enum GuestMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No region contains `address`.
    case unmappedAddress(GuestAddress)
    /// `address + length` passes 2^64, so the range cannot exist.
    case addressOverflow(GuestAddress, length: UInt64)
    /// The range starts in mapped memory but reaches a hole after `completed` bytes.
    case partialAccess(GuestAddress, length: UInt64, completed: UInt64)
    /// The access must stay inside one region (slices, atomics) but crosses its end.
    case crossesRegionBoundary(GuestAddress, length: UInt64)
    /// A region-relative range does not fit inside the region.
    case regionOffsetOutOfRange(MemoryRegionAddress, length: UInt64, regionSize: UInt64)
    /// A range inside a ``VolatileSlice`` does not fit the slice.
    case sliceOutOfBounds(offset: UInt64, length: UInt64, sliceSize: UInt64)
    /// An atomic access needs its natural alignment.
    case misaligned(GuestAddress, alignment: UInt64)
    /// Two regions given to a memory map overlap.
    case overlappingRegions(GuestAddress, GuestAddress)
    /// A region of zero bytes was given to a memory map or a region constructor.
    case emptyRegion(GuestAddress)
    /// A region's last byte would lie past 2^64 - 1.
    case regionWrapsAddressSpace(GuestAddress, size: UInt64)
    /// A host allocation for a region failed or its size does not fit the host's address space.
    case hostAllocationFailed(size: UInt64)

    /// One line naming the failed check and its values.
    public var description: String {
        switch self {
        case .unmappedAddress(let address):
            return "guest address \(address) is not in any memory region"
        case .addressOverflow(let address, let length):
            return "range at \(address) of \(length) bytes wraps past 2^64"
        case .partialAccess(let address, let length, let completed):
            return "range at \(address) of \(length) bytes reaches unmapped memory after \(completed) bytes"
        case .crossesRegionBoundary(let address, let length):
            return "range at \(address) of \(length) bytes crosses a region boundary"
        case .regionOffsetOutOfRange(let offset, let length, let regionSize):
            return "region offset \(offset) + \(length) bytes is outside a region of \(regionSize) bytes"
        case .sliceOutOfBounds(let offset, let length, let sliceSize):
            return "slice offset \(offset) + \(length) bytes is outside a slice of \(sliceSize) bytes"
        case .misaligned(let address, let alignment):
            return "guest address \(address) is not aligned to \(alignment) bytes"
        case .overlappingRegions(let first, let second):
            return "memory regions at \(first) and \(second) overlap"
        case .emptyRegion(let address):
            return "memory region at \(address) has zero size"
        case .regionWrapsAddressSpace(let address, let size):
            return "memory region at \(address) of \(size) bytes wraps past 2^64"
        case .hostAllocationFailed(let size):
            return "host allocation of \(size) bytes for guest memory failed"
        }
    }
}
