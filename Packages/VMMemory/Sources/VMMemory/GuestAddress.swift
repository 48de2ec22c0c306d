// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A guest physical address: a 64-bit offset into the guest's address space.
///
/// Guest addresses come from the guest (descriptor tables, registers, device
/// programming), so arithmetic on them is explicit: `checked…` operations return
/// `nil` instead of trapping when the result would leave the 64-bit space, and
/// `wrapping…` operations wrap modulo 2^64 for the rare places where hardware does.
///
/// ```swift
/// let base = GuestAddress(0x1000)
/// let next = base.checkedAdd(0x20)             // GuestAddress(0x1020)
/// let none = GuestAddress.max.checkedAdd(1)     // nil: would wrap
/// let page = GuestAddress(0x1234).alignedDown(to: 0x1000)  // 0x1000
/// ```
@frozen
public struct GuestAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The address as a 64-bit value.
    public var rawValue: UInt64

    /// Wraps a raw 64-bit guest physical address.
    @inlinable
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// Address 0.
    public static let zero = GuestAddress(0)
    /// The highest address, 2^64 - 1.
    public static let max = GuestAddress(UInt64.max)

    /// `self + offset`, or `nil` when the sum passes 2^64 - 1.
    @inlinable
    public func checkedAdd(_ offset: UInt64) -> GuestAddress? {
        let (sum, overflow) = rawValue.addingReportingOverflow(offset)
        return overflow ? nil : GuestAddress(sum)
    }

    /// `self - offset`, or `nil` when the difference is below 0.
    @inlinable
    public func checkedSubtract(_ offset: UInt64) -> GuestAddress? {
        let (difference, overflow) = rawValue.subtractingReportingOverflow(offset)
        return overflow ? nil : GuestAddress(difference)
    }

    /// `self + offset` modulo 2^64.
    @inlinable
    public func wrappingAdd(_ offset: UInt64) -> GuestAddress { GuestAddress(rawValue &+ offset) }

    /// `self - offset` modulo 2^64.
    @inlinable
    public func wrappingSubtract(_ offset: UInt64) -> GuestAddress { GuestAddress(rawValue &- offset) }

    /// The distance from `base` up to `self`, or `nil` when `self` is below `base`.
    @inlinable
    public func offset(from base: GuestAddress) -> UInt64? {
        rawValue >= base.rawValue ? rawValue - base.rawValue : nil
    }

    /// Whether the address is a multiple of `alignment` (a power of two; other
    /// values, including 0, are never satisfied).
    @inlinable
    public func isAligned(to alignment: UInt64) -> Bool {
        guard alignment != 0, alignment & (alignment - 1) == 0 else { return false }
        return rawValue & (alignment - 1) == 0
    }

    /// The address rounded down to a multiple of `alignment`, or `nil` when
    /// `alignment` is not a power of two.
    @inlinable
    public func alignedDown(to alignment: UInt64) -> GuestAddress? {
        guard alignment != 0, alignment & (alignment - 1) == 0 else { return nil }
        return GuestAddress(rawValue & ~(alignment - 1))
    }

    /// The address rounded up to a multiple of `alignment`, or `nil` when
    /// `alignment` is not a power of two or rounding up passes 2^64 - 1.
    @inlinable
    public func alignedUp(to alignment: UInt64) -> GuestAddress? {
        guard alignment != 0, alignment & (alignment - 1) == 0 else { return nil }
        let (bumped, overflow) = rawValue.addingReportingOverflow(alignment - 1)
        return overflow ? nil : GuestAddress(bumped & ~(alignment - 1))
    }

    /// Orders addresses numerically.
    @inlinable
    public static func < (lhs: GuestAddress, rhs: GuestAddress) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `0x`-prefixed hexadecimal, for example `0x1000`.
    public var description: String { hexadecimal(rawValue) }
}

/// An offset inside one memory region, counted from the region's first byte.
///
/// Region-relative addresses keep "where in the guest" (``GuestAddress``) apart
/// from "where in this mapping", so the two cannot be mixed up by accident.
///
/// ```swift
/// let region = try BufferRegion(start: GuestAddress(0x10_0000), size: 0x1000)
/// let offset = region.offset(of: GuestAddress(0x10_0010))  // MemoryRegionAddress(0x10)
/// ```
@frozen
public struct MemoryRegionAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The offset in bytes from the start of the region.
    public var rawValue: UInt64

    /// Wraps a byte offset from the start of a region.
    @inlinable
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// `self + offset`, or `nil` when the sum passes 2^64 - 1.
    @inlinable
    public func checkedAdd(_ offset: UInt64) -> MemoryRegionAddress? {
        let (sum, overflow) = rawValue.addingReportingOverflow(offset)
        return overflow ? nil : MemoryRegionAddress(sum)
    }

    /// Orders offsets numerically.
    @inlinable
    public static func < (lhs: MemoryRegionAddress, rhs: MemoryRegionAddress) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// `0x`-prefixed hexadecimal, for example `0x10`.
    public var description: String { hexadecimal(rawValue) }
}

/// Formats `value` as `0x…` without Foundation (the core builds in Embedded Swift).
func hexadecimal(_ value: UInt64) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    var rest = value
    repeat {
        text.append(digits[Int(rest & 0xf)])
        rest >>= 4
    } while rest != 0
    return "0x" + String(decoding: text.reversed(), as: UTF8.self)
}
