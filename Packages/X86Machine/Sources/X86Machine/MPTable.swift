// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// An Intel MultiProcessor Specification 1.4 table: the floating pointer
/// structure followed by the configuration table with one processor entry per
/// vCPU, an ISA bus, the I/O APIC, one I/O interrupt entry per ISA IRQ and the
/// LINT0 (ExtINT) / LINT1 (NMI) local interrupt entries.
///
/// Kernels built with `X86_MPPARSE` find SMP through it when there is no ACPI
/// MADT. It lives in the EBDA at 0x9fc00, which leaves 1 KiB: enough for 40 vCPUs.
///
/// ```swift
/// let table = try MPTable(cpuCount: 4)
/// try table.write(to: memory)
/// ```
public struct MPTable: Equatable, Sendable {
    /// The local APIC register window.
    public static let localAPICAddress: UInt32 = 0xfee0_0000
    /// The I/O APIC register window.
    public static let ioAPICAddress: UInt32 = 0xfec0_0000
    /// The area the table must fit in (EBDA start to 640 KiB).
    public static let maximumSize = 0xa_0000 - Int(X86MemoryLayout.ebdaStart)
    /// ISA IRQs routed through the I/O APIC.
    public static let isaIRQCount = 16

    /// Number of vCPUs (APIC ids 0..<cpuCount; vCPU 0 is the bootstrap processor).
    public let cpuCount: Int
    /// Where the floating pointer goes (the configuration table follows it).
    public let address: GuestAddress

    /// A table for `cpuCount` vCPUs at `address`.
    public init(
        cpuCount: Int, address: GuestAddress = GuestAddress(X86MemoryLayout.ebdaStart)
    )
        throws(X86MachineError)
    {
        guard cpuCount >= 1, cpuCount < 255 else { throw .tooManyCPUsForMPTable(cpuCount) }
        self.cpuCount = cpuCount
        self.address = address
        guard Self.size(cpuCount: cpuCount) <= Self.maximumSize else { throw .tooManyCPUsForMPTable(cpuCount) }
    }

    static func size(cpuCount: Int) -> Int { 16 + 44 + 20 * cpuCount + 8 + 8 + 8 * isaIRQCount + 8 * 2 }

    /// The I/O APIC's id: the one after the last local APIC.
    public var ioAPICID: UInt8 { UInt8(cpuCount) }

    /// The floating pointer and the configuration table, back to back.
    public var bytes: [UInt8] {
        let configurationAddress = UInt32(truncatingIfNeeded: address.rawValue + 16)
        var floating: [UInt8] = Array("_MP_".utf8)
        floating.appendLittleEndian(configurationAddress)
        floating += [1, 4, 0, 0, 0, 0, 0, 0]  // length 1 (16 bytes), revision 1.4, checksum, no default config
        floating[10] = checksum(floating)

        var entries: [UInt8] = []
        var count: UInt16 = 0
        for cpu in 0..<cpuCount {
            entries += [0, UInt8(cpu), 0x14, cpu == 0 ? 0x03 : 0x01]  // processor: enabled (| BSP)
            entries.appendLittleEndian(UInt32(0x600))  // CPU signature: family 6
            entries.appendLittleEndian(UInt32(0x201))  // features: FPU | APIC
            entries += [UInt8](repeating: 0, count: 8)
            count += 1
        }
        entries += [1, 0] + Array("ISA   ".utf8)  // bus 0: ISA
        entries += [2, ioAPICID, 0x11, 1]  // I/O APIC, version 0x11, enabled
        entries.appendLittleEndian(Self.ioAPICAddress)
        count += 2
        for irq in 0..<Self.isaIRQCount {
            // IRQ 0 is ExtINT (the PIC's cascade into INTIN0); the others are plain INT on their own pin.
            entries += [3, irq == 0 ? 3 : 0, 0, 0, 0, UInt8(irq), ioAPICID, UInt8(irq)]
            count += 1
        }
        entries += [4, 3, 0, 0, 0, 0, 0xff, 0]  // LINT0: ExtINT to every local APIC
        entries += [4, 1, 0, 0, 0, 0, 0xff, 1]  // LINT1: NMI to every local APIC
        count += 2

        var header: [UInt8] = Array("PCMP".utf8)
        header.appendLittleEndian(UInt16(44 + entries.count))
        header += [4, 0]  // revision 1.4, checksum
        header += Array("SWIFTVMM".utf8) + Array("X86MACHINE  ".utf8)
        header.appendLittleEndian(UInt32(0))  // no OEM table
        header.appendLittleEndian(UInt16(0))
        header.appendLittleEndian(count)
        header.appendLittleEndian(Self.localAPICAddress)
        header += [0, 0, 0, 0]  // no extended table
        var configuration = header + entries
        configuration[7] = checksum(configuration)
        return floating + configuration
    }

    /// Writes the table at ``address``.
    public func write(to memory: some GuestMemory) throws(X86MachineError) {
        try writeBytes(bytes, to: memory, at: address)
    }

    func checksum(_ bytes: [UInt8]) -> UInt8 { 0 &- bytes.reduce(0, &+) }
}
