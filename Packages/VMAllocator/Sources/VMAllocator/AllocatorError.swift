// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Why an allocator refused a request.
///
/// ```swift
/// var mmio = try AddressAllocator(base: 0xd000_0000, size: 0x1000)
/// do {
///     _ = try mmio.allocate(size: 0x2000)
/// } catch .outOfSpace(let size, _) {
///     print("no room for \(size) bytes")
/// } catch {
///     print(error)
/// }
/// ```
public enum AllocatorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A size of zero was requested, or a pool of zero size was described.
    case zeroSize
    /// The alignment is zero or not a power of two.
    case invalidAlignment(UInt64)
    /// `base + size - 1` passes 2^64 - 1.
    case rangeOverflow(base: UInt64, size: UInt64)
    /// No free range can hold `size` bytes at `alignment`.
    case outOfSpace(size: UInt64, alignment: UInt64)
    /// An exact request asked for a range that is not wholly free or lies outside the pool.
    case rangeUnavailable(AddressRange)
    /// The range to free was not handed out by this allocator (or was already freed).
    case notAllocated(AddressRange)
    /// Every id of an ``IdAllocator`` is in use.
    case idsExhausted
    /// The id lies outside the allocator's range.
    case idOutOfRange(UInt32)
    /// The id is already in use (exact allocation) or already free (free).
    case idInUse(UInt32)
    /// The id to free is not allocated.
    case idNotAllocated(UInt32)

    /// One line naming the failed check and its values.
    public var description: String {
        switch self {
        case .zeroSize: return "size must not be zero"
        case .invalidAlignment(let alignment): return "alignment \(alignment) is not a power of two"
        case .rangeOverflow(let base, let size): return "range at \(base) of \(size) bytes wraps past 2^64"
        case .outOfSpace(let size, let alignment):
            return "no free range of \(size) bytes aligned to \(alignment)"
        case .rangeUnavailable(let range): return "range \(range) is not free"
        case .notAllocated(let range): return "range \(range) is not allocated"
        case .idsExhausted: return "every id is in use"
        case .idOutOfRange(let id): return "id \(id) is outside the allocator's range"
        case .idInUse(let id): return "id \(id) is already in use"
        case .idNotAllocated(let id): return "id \(id) is not allocated"
        }
    }
}
