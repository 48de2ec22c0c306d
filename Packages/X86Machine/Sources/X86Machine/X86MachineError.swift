// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// Why a machine setup step was refused.
///
/// ```swift
/// do {
///     _ = try X86MemoryLayout(memorySize: 1 << 20)
/// } catch .memoryTooSmall(let size, let minimum) {
///     print("\(size) bytes is below the minimum of \(minimum)")
/// } catch {
///     print(error)
/// }
/// ```
public enum X86MachineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Guest RAM is smaller than the layout needs.
    case memoryTooSmall(size: UInt64, minimum: UInt64)
    /// Guest RAM is not a whole number of 4 KiB pages.
    case memoryNotPageAligned(UInt64)
    /// Guest RAM would reach past the 52-bit physical address space.
    case memoryTooLarge(UInt64)
    /// The MMIO gap is not 2 MiB-aligned, empty or does not end at 4 GiB.
    case invalidMMIOGap(start: UInt64)
    /// The MP table for this many CPUs does not fit its area below 640 KiB.
    case tooManyCPUsForMPTable(Int)
    /// Identity mapping is limited to 512 GiB (one PML4 entry).
    case identityMappingTooLarge(UInt64)
    /// Writing into guest memory failed.
    case memory(GuestMemoryError)

    /// One line naming the failed check.
    public var description: String {
        switch self {
        case .memoryTooSmall(let size, let minimum): return "guest memory of \(size) bytes is below \(minimum)"
        case .memoryNotPageAligned(let size): return "guest memory of \(size) bytes is not a multiple of 4 KiB"
        case .memoryTooLarge(let size): return "guest memory of \(size) bytes exceeds the physical address space"
        case .invalidMMIOGap(let start): return "MMIO gap starting at \(start) is not a 2 MiB-aligned range below 4 GiB"
        case .tooManyCPUsForMPTable(let count): return "an MP table for \(count) CPUs does not fit below 640 KiB"
        case .identityMappingTooLarge(let size): return "identity mapping of \(size) bytes exceeds 512 GiB"
        case .memory(let error): return error.description
        }
    }
}

/// Writes `bytes` at `address`, mapping the failure.
func writeBytes(_ bytes: [UInt8], to memory: some GuestMemory, at address: GuestAddress) throws(X86MachineError) {
    do throws(GuestMemoryError) {
        try memory.write(bytes, to: address)
    } catch {
        throw .memory(error)
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        for index in 0..<(T.bitWidth / 8) { append(UInt8(truncatingIfNeeded: value >> (index * 8))) }
    }
}
