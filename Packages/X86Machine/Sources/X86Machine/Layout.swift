// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import VMMemory

/// Where guest RAM, the MMIO gap and the boot structures of an x86_64 microVM
/// live, for any RAM size from a few MiB to terabytes.
///
/// RAM fills the space below the MMIO gap (default `[3 GiB, 4 GiB)`, where the
/// LAPIC, IOAPIC and virtio-mmio devices sit) and continues at 4 GiB. The first
/// megabyte holds the boot structures at the classic addresses below.
///
/// ```swift
/// let layout = try X86MemoryLayout(memorySize: 8 << 30)
/// print(layout.ramRegions)   // [(0, 3 GiB), (4 GiB, 5 GiB)]
/// for entry in layout.e820Entries { try params.addE820(entry) }
/// ```
public struct X86MemoryLayout: Equatable, Sendable {
    /// The GDT used for long-mode entry.
    public static let gdtAddress = GuestAddress(0x500)
    /// An empty IDT (interrupts stay masked until the kernel installs its own).
    public static let idtAddress = GuestAddress(0x520)
    /// The PVH `hvm_start_info` and its memory map.
    public static let pvhStartInfoAddress = GuestAddress(0x6000)
    /// The zero page (`boot_params`).
    public static let zeroPageAddress = GuestAddress(0x7000)
    /// The initial stack pointer (grows down below the page tables).
    public static let bootStackPointer: UInt64 = 0x8ff0
    /// The PML4; the PDPT and page directories follow it.
    public static let pml4Address = GuestAddress(0x9000)
    /// The kernel command line.
    public static let commandLineAddress = GuestAddress(0x2_0000)
    /// Start of the extended BIOS data area, where the MP table goes.
    public static let ebdaStart: UInt64 = 0x9_fc00
    /// Start of the reserved BIOS area holding the ACPI tables (RSDP at its start).
    public static let biosAreaStart: UInt64 = 0xe_0000
    /// 1 MiB: where high memory starts.
    public static let highMemoryStart: UInt64 = 0x10_0000
    /// 4 GiB.
    public static let fourGiB: UInt64 = 1 << 32
    /// The default MMIO gap start (3 GiB).
    public static let defaultMMIOGapStart: UInt64 = 0xc000_0000
    /// The smallest RAM accepted: 2 MiB (boot structures plus a tiny kernel).
    public static let minimumMemory: UInt64 = 2 << 20

    /// Total guest RAM in bytes.
    public let memorySize: UInt64
    /// First byte of the MMIO gap; the gap ends at 4 GiB.
    public let mmioGapStart: UInt64

    /// A layout for `memorySize` bytes of RAM with the MMIO gap from `mmioGapStart` to 4 GiB.
    public init(
        memorySize: UInt64, mmioGapStart: UInt64 = X86MemoryLayout.defaultMMIOGapStart
    )
        throws(X86MachineError)
    {
        guard memorySize >= Self.minimumMemory else {
            throw .memoryTooSmall(size: memorySize, minimum: Self.minimumMemory)
        }
        guard memorySize & 0xfff == 0 else { throw .memoryNotPageAligned(memorySize) }
        guard mmioGapStart >= Self.highMemoryStart, mmioGapStart < Self.fourGiB, mmioGapStart & 0x1f_ffff == 0 else {
            throw .invalidMMIOGap(start: mmioGapStart)
        }
        guard memorySize <= (1 << 52) - Self.fourGiB else { throw .memoryTooLarge(memorySize) }
        self.memorySize = memorySize
        self.mmioGapStart = mmioGapStart
    }

    /// The MMIO gap: `[mmioGapStart, 4 GiB)`.
    public var mmioGap: Range<UInt64> { mmioGapStart..<Self.fourGiB }

    /// RAM below the gap.
    public var lowMemorySize: UInt64 { Swift.min(memorySize, mmioGapStart) }

    /// RAM above 4 GiB.
    public var highMemorySize: UInt64 { memorySize - lowMemorySize }

    /// The guest RAM regions as (start, size): one below the gap, and one at 4 GiB when RAM does not fit below.
    public var ramRegions: [(start: GuestAddress, size: UInt64)] {
        var regions = [(start: GuestAddress(0), size: lowMemorySize)]
        if highMemorySize > 0 { regions.append((GuestAddress(Self.fourGiB), highMemorySize)) }
        return regions
    }

    /// One past the highest RAM address.
    public var memoryEnd: UInt64 { highMemorySize > 0 ? Self.fourGiB + highMemorySize : lowMemorySize }

    /// The E820 map: low RAM up to the EBDA, the EBDA and BIOS area reserved,
    /// RAM from 1 MiB to the gap, and RAM above 4 GiB.
    public var e820Entries: [E820Entry] {
        var entries = [
            E820Entry(address: 0, size: Self.ebdaStart, type: .ram),
            E820Entry(address: Self.ebdaStart, size: 0xa_0000 - Self.ebdaStart, type: .reserved),
            E820Entry(address: Self.biosAreaStart, size: Self.highMemoryStart - Self.biosAreaStart, type: .reserved),
        ]
        if lowMemorySize > Self.highMemoryStart {
            entries.append(
                E820Entry(address: Self.highMemoryStart, size: lowMemorySize - Self.highMemoryStart, type: .ram))
        }
        if highMemorySize > 0 { entries.append(E820Entry(address: Self.fourGiB, size: highMemorySize, type: .ram)) }
        return entries
    }
}
