// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ACPITables
import LinuxLoader
import VMMemory
import X86Machine

/// A setup step that failed before the guest ran: one line, exit status 1.
///
/// ```swift
/// do { _ = try BootImage.load(kernel: [0x7f], into: memory, plan: plan) } catch { print(error) }
/// ```
public struct VMMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The one-line explanation.
    public var description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// How the boot vCPU enters the kernel.
public enum EntryMode: Equatable, Sendable {
    /// The PVH 32-bit entry (ELF note): `rbx` = `hvm_start_info`, paging off.
    case pvh(entry: UInt64)
    /// The Linux 64-bit entry: long mode, identity-mapped, `rsi` = zero page.
    case linux64(entry: UInt64)
}

/// Where everything goes in guest memory, on top of ``X86MemoryLayout``.
///
/// ```swift
/// let plan = try BootPlan(memorySize: 256 << 20, vcpus: 2)
/// print(plan.layout.e820Entries.count)
/// ```
public struct BootPlan: Equatable, Sendable {
    /// RSDP (inside the reserved BIOS area).
    public static let rsdpAddress: UInt64 = 0xe_0000
    /// The other ACPI tables.
    public static let acpiTablesAddress: UInt64 = 0xe_1000
    /// The PVH memory map (right after the 56-byte start info at 0x6000).
    public static let pvhMemoryMapAddress = GuestAddress(0x6040)
    /// The PVH module list (one entry: the initrd).
    public static let pvhModuleListAddress = GuestAddress(0x6800)
    /// Command line capacity (the x86 kernel's COMMAND_LINE_SIZE).
    public static let commandLineCapacity = 2048
    /// Firecracker-style boot timer, first page of the MMIO gap.
    public var bootTimerAddress: UInt64 { layout.mmioGapStart }

    /// RAM and the MMIO gap.
    public let layout: X86MemoryLayout
    /// vCPUs.
    public let vcpus: Int

    /// A plan for `memorySize` bytes and `vcpus` vCPUs.
    public init(memorySize: UInt64, vcpus: Int) throws(VMMError) {
        do {
            layout = try X86MemoryLayout(memorySize: memorySize)
        } catch {
            throw VMMError("memory layout: \(error)")
        }
        self.vcpus = vcpus
    }

    /// The ACPI tables: one local APIC per vCPU, COM1, `\_S5` through the sleep registers.
    /// No IRQ0 override: KVM's in-kernel PIT raises GSI 0 with the default routing.
    public func acpiTables() throws(VMMError) -> [PlacedTable] {
        var tables = X86ACPITables(cpuCount: vcpus)
        tables.madt.overrides = []
        do {
            return try tables.build(rsdpAddress: Self.rsdpAddress, tablesAddress: Self.acpiTablesAddress)
        } catch {
            throw VMMError("ACPI tables: \(error)")
        }
    }
}

/// Loads a kernel, initrd, command line, ACPI tables and boot structures into guest memory.
public enum BootImage {
    /// ELF files start with these bytes.
    static let elfMagic: [UInt8] = [0x7f, 0x45, 0x4c, 0x46]

    /// Copies everything in and returns how to enter the kernel.
    public static func load<Memory: GuestMemory>(
        kernel bytes: [UInt8], initrd: [UInt8]?, commandLine: String, into memory: Memory, plan: BootPlan,
        preferLinux64Entry: Bool = false
    ) throws(VMMError) -> EntryMode {
        var line = KernelCommandLine(capacity: BootPlan.commandLineCapacity)
        do {
            for word in KernelParameters.split(commandLine) {
                if let equals = word.firstIndex(of: "=") {
                    try line.append(String(word[..<equals]), String(word[word.index(after: equals)...]))
                } else {
                    try line.append(flag: word)
                }
            }
        } catch {
            throw VMMError("kernel command line: \(error)")
        }

        let placed = try plan.acpiTables()
        do {
            for table in placed { try memory.write(table.bytes, to: GuestAddress(table.address)) }
            try line.write(to: memory, at: X86MemoryLayout.commandLineAddress)
            try MPTable(cpuCount: plan.vcpus).write(to: memory)
        } catch {
            throw VMMError("writing boot tables: \(error)")
        }

        let isELF = bytes.count >= 4 && Array(bytes[0..<4]) == elfMagic
        let loaded: LoadedKernel
        do {
            loaded = isELF ? try ELFKernel(bytes).load(into: memory) : try BzImage(bytes).load(into: memory)
        } catch {
            throw VMMError("kernel (\(isELF ? "ELF" : "bzImage")): \(error)")
        }

        var initrdPlace: (address: UInt64, size: UInt64)?
        if let initrd, !initrd.isEmpty {
            let limit = min(
                UInt64(loaded.setupHeader?.initrdAddressMax ?? 0xffff_ffff), plan.layout.lowMemorySize - 1)
            do {
                let address = try InitrdPlacement.highest(
                    size: UInt64(initrd.count), in: memory, below: limit, above: loaded.end)
                try memory.write(initrd, to: address)
                initrdPlace = (address.rawValue, UInt64(initrd.count))
            } catch {
                throw VMMError("initrd (\(initrd.count) bytes): \(error)")
            }
        }

        let e820 = plan.layout.e820Entries
        if let pvh = loaded.pvhEntry, !preferLinux64Entry {
            var info = PVHStartInfo()
            info.commandLineAddress = X86MemoryLayout.commandLineAddress.rawValue
            info.rsdpAddress = BootPlan.rsdpAddress
            info.memoryMap = e820
            do {
                if let initrdPlace {
                    info.moduleCount = 1
                    info.moduleListAddress = BootPlan.pvhModuleListAddress.rawValue
                    try memory.write(
                        PVHStartInfo.moduleEntry(address: initrdPlace.address, size: initrdPlace.size),
                        to: BootPlan.pvhModuleListAddress)
                }
                try info.write(
                    to: memory, at: X86MemoryLayout.pvhStartInfoAddress, memoryMapAt: BootPlan.pvhMemoryMapAddress)
                try BootGDT.protectedMode.write(to: memory)
            } catch {
                throw VMMError("PVH start info: \(error)")
            }
            return .pvh(entry: pvh.rawValue)
        }

        var params = loaded.setupHeader.map { BootParams(header: $0) } ?? BootParams()
        params.setCommandLine(at: X86MemoryLayout.commandLineAddress, size: line.nulTerminated.count)
        if let initrdPlace { params.setRamdisk(at: GuestAddress(initrdPlace.address), size: initrdPlace.size) }
        params.setACPIRSDP(GuestAddress(BootPlan.rsdpAddress))
        do {
            for entry in e820 { try params.addE820(entry) }
            try params.write(to: memory, at: X86MemoryLayout.zeroPageAddress)
            try BootGDT.longMode.write(to: memory)
            try IdentityPageTables(mappedBytes: 4 << 30).write(to: memory)
        } catch {
            throw VMMError("zero page: \(error)")
        }
        return .linux64(entry: loaded.entry.rawValue)
    }
}
