// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// An inclusive range of addresses `[start, last]`.
///
/// Inclusive so that a range may end at 2^64 - 1.
///
/// ```swift
/// let range = AddressRange(start: 0x1000, last: 0x1fff)
/// print(range.size)  // 4096
/// ```
public struct AddressRange: Hashable, Sendable, CustomStringConvertible {
    /// The first address.
    public var start: UInt64
    /// The last address (inclusive).
    public var last: UInt64

    /// Creates `[start, last]`; `last` must not be below `start`.
    public init(start: UInt64, last: UInt64) {
        precondition(last >= start, "an address range ends before it starts")
        self.start = start
        self.last = last
    }

    /// Creates `[start, start + size - 1]`, or throws when `size` is zero or the range wraps.
    public init(start: UInt64, size: UInt64) throws(AllocatorError) {
        guard size > 0 else { throw .zeroSize }
        guard start <= UInt64.max - (size - 1) else { throw .rangeOverflow(base: start, size: size) }
        self.init(start: start, last: start + (size - 1))
    }

    /// The number of addresses (saturates at 2^64 - 1 for the whole space).
    public var size: UInt64 { last - start == UInt64.max ? UInt64.max : last - start + 1 }

    /// Whether `address` lies in the range.
    public func contains(_ address: UInt64) -> Bool { address >= start && address <= last }

    /// Whether the two ranges share an address.
    public func overlaps(_ other: AddressRange) -> Bool { start <= other.last && other.start <= last }

    /// `[0x1000, 0x1fff]`, in hexadecimal.
    public var description: String {
        "[0x\(String(start, radix: 16)), 0x\(String(last, radix: 16))]"
    }
}

/// Where ``AddressAllocator/allocate(size:alignment:policy:)`` places a block.
public enum AllocationPolicy: Equatable, Sendable {
    /// The lowest address that fits.
    case firstMatch
    /// The highest address that fits.
    case lastMatch
    /// Exactly at this address (it must be aligned and the whole block free).
    case exactMatch(UInt64)
}

/// Hands out non-overlapping, aligned address ranges from a pool and takes them back.
///
/// Use it for MMIO windows, port ranges or guest RAM carve-outs. Free ranges live
/// in a treap keyed by start address and augmented with the largest free range
/// of each subtree, so allocation (first or last match), exact allocation and
/// free are expected O(log n) in the number of free ranges. Freed ranges are
/// merged with free neighbours, so the pool never fragments into adjacent pieces.
/// Allocated ranges are remembered by start address, so only a range that was
/// handed out can be freed.
///
/// ```swift
/// var mmio = try AddressAllocator(base: 0xd000_0000, size: 0x1000_0000)
/// let uart = try mmio.allocate(size: 0x1000, alignment: 0x1000)           // first match
/// let top = try mmio.allocate(size: 0x1000, policy: .lastMatch)           // 0xdfff_f000
/// let fixed = try mmio.allocate(size: 0x200, policy: .exactMatch(0xd010_0000))
/// try mmio.free(uart)
/// ```
public struct AddressAllocator: Sendable {
    private var free: RangeTree
    private var allocated: [UInt64: UInt64] = [:]
    /// The pool this allocator manages.
    public let pool: AddressRange

    /// Creates an allocator for `[base, base + size - 1]`.
    public init(base: UInt64, size: UInt64) throws(AllocatorError) {
        pool = try AddressRange(start: base, size: size)
        free = RangeTree()
        free.insert(start: pool.start, last: pool.last)
    }

    /// Allocates `size` bytes aligned to `alignment` (a power of two) according to `policy`.
    public mutating func allocate(
        size: UInt64, alignment: UInt64 = 1, policy: AllocationPolicy = .firstMatch
    ) throws(AllocatorError) -> AddressRange {
        guard size > 0 else { throw .zeroSize }
        guard alignment != 0, alignment & (alignment - 1) == 0 else { throw .invalidAlignment(alignment) }
        let span = size - 1
        let start: UInt64
        switch policy {
        case .firstMatch:
            guard let found = free.firstFit(span: span, alignment: alignment, low: pool.start, high: pool.last)
            else { throw .outOfSpace(size: size, alignment: alignment) }
            start = found
        case .lastMatch:
            guard let found = free.lastFit(span: span, alignment: alignment, low: pool.start, high: pool.last)
            else { throw .outOfSpace(size: size, alignment: alignment) }
            start = found
        case .exactMatch(let address):
            guard address & (alignment - 1) == 0 else { throw .invalidAlignment(alignment) }
            let wanted = try AddressRange(start: address, size: size)
            guard let owner = free.range(containing: address), owner.last >= wanted.last else {
                throw .rangeUnavailable(wanted)
            }
            start = address
        }
        let range = AddressRange(start: start, last: start + span)
        _ = free.carve(start: range.start, last: range.last)
        allocated[range.start] = range.last
        return range
    }

    /// Returns `range`, which must be exactly a range this allocator handed out.
    public mutating func free(_ range: AddressRange) throws(AllocatorError) {
        guard let last = allocated[range.start], last == range.last else { throw .notAllocated(range) }
        allocated[range.start] = nil
        _ = free.insertMerging(start: range.start, last: range.last)
    }

    /// The free ranges, in ascending order (adjacent free space is always one range).
    public var freeRanges: [AddressRange] { free.ranges().map { AddressRange(start: $0.start, last: $0.last) } }

    /// The allocated ranges, in ascending order.
    public var allocatedRanges: [AddressRange] {
        allocated.map { AddressRange(start: $0.key, last: $0.value) }.sorted { $0.start < $1.start }
    }

    /// The allocated range containing `address`, if any.
    public func allocation(containing address: UInt64) -> AddressRange? {
        guard pool.contains(address), free.range(containing: address) == nil else { return nil }
        // Allocated space is the complement of free space: find the allocation by its start.
        let gapStart = free.predecessor(of: address).map { $0.last + 1 } ?? pool.start
        var candidate = gapStart
        while let last = allocated[candidate] {
            if last >= address { return AddressRange(start: candidate, last: last) }
            candidate = last + 1
        }
        return nil
    }

    /// The number of free bytes (saturating).
    public var freeBytes: UInt64 {
        free.ranges().reduce(0) { total, range in
            let (sum, overflow) = total.addingReportingOverflow(range.last - range.start &+ 1)
            return overflow ? UInt64.max : sum
        }
    }
}

/// Hands out the lowest free 32-bit id of a range (interrupt lines, device
/// ids, vsock ports...) and takes ids back.
///
/// Free ids are kept as ranges in the same treap the ``AddressAllocator`` uses, so
/// a fresh allocator is one range and allocate/free are expected O(log n) in the
/// number of free runs.
///
/// ```swift
/// var gsis = try IdAllocator(range: 5...23)
/// let first = try gsis.allocate()       // 5
/// let fixed = try gsis.allocate(id: 9)  // 9
/// try gsis.free(first)
/// ```
public struct IdAllocator: Sendable {
    private var free = RangeTree()
    /// The ids this allocator manages.
    public let range: ClosedRange<UInt32>

    /// Creates an allocator for `range`.
    public init(range: ClosedRange<UInt32>) throws(AllocatorError) {
        self.range = range
        free.insert(start: UInt64(range.lowerBound), last: UInt64(range.upperBound))
    }

    /// Allocates the lowest free id.
    public mutating func allocate() throws(AllocatorError) -> UInt32 {
        guard let first = free.firstFit(span: 0, alignment: 1, low: 0, high: UInt64.max) else { throw .idsExhausted }
        _ = free.carve(start: first, last: first)
        return UInt32(first)
    }

    /// Allocates exactly `id`.
    public mutating func allocate(id: UInt32) throws(AllocatorError) -> UInt32 {
        guard range.contains(id) else { throw .idOutOfRange(id) }
        guard free.carve(start: UInt64(id), last: UInt64(id)) else { throw .idInUse(id) }
        return id
    }

    /// Returns `id`; it must be allocated.
    public mutating func free(_ id: UInt32) throws(AllocatorError) {
        guard range.contains(id) else { throw .idOutOfRange(id) }
        guard free.insertMerging(start: UInt64(id), last: UInt64(id)) else { throw .idNotAllocated(id) }
    }

    /// Whether `id` is currently allocated.
    public func isAllocated(_ id: UInt32) -> Bool {
        range.contains(id) && free.range(containing: UInt64(id)) == nil
    }

    /// The number of free ids.
    public var freeCount: UInt64 { free.ranges().reduce(0) { $0 + ($1.last - $1.start + 1) } }
}
