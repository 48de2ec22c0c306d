// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ACPITables
import LinuxLoader
import VMMemory
import X86Machine

/// What integration-vmm failed to do, and the error of the layer below that made it fail
/// (a hypervisor call, a file, a device), kept whole: the user reads one line naming
/// both; a program reaches the cause with ``underlying(_:)``.
///
/// ```swift
/// do {
///     _ = try IntegrationVMM.run(MachineConfig(kernel: "/missing", commandLine: ""), options: RunOptions())
/// } catch {
///     print(error)  // kernel: open(/missing): No such file or directory (errno 2)
///     if error.underlying(SystemError.self)?.errno == .noSuchFile { print("no such kernel") }
/// }
/// ```
public struct VMMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What failed, in the user's terms (`"guest memory (256 MiB at 0x0)"`, `"vCPU 1 setup"`).
    public let operation: String
    /// The error that made it fail, if another layer reported one.
    public let cause: (any Error & Sendable)?

    /// What stands between the operation and the cause in ``description``.
    let separator: String

    /// An error for `operation`, caused by `cause`; ``description`` joins them with
    /// `separator` (`":"` for a file location such as `policy.json` and a cause
    /// that starts `2:5: ...`).
    public init(_ operation: String, cause: (any Error & Sendable)? = nil, separator: String = ": ") {
        self.operation = operation
        self.cause = cause
        self.separator = separator
    }

    /// `"<operation>: <cause>"`, or the operation alone.
    public var description: String {
        guard let cause else { return operation }
        return "\(operation)\(separator)\(cause)"
    }

    /// The first error of type `T` in the chain of causes (this error, its cause, the
    /// cause's cause through nested ``VMMError``s), or nil.
    public func underlying<T: Error>(_ type: T.Type) -> T? {
        if let match = self as? T { return match }
        guard let cause else { return nil }
        if let match = cause as? T { return match }
        return (cause as? VMMError)?.underlying(type)
    }

    /// Same operation and the same cause, as the user reads them.
    public static func == (left: VMMError, right: VMMError) -> Bool { left.description == right.description }
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
            throw VMMError("memory layout", cause: error)
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
            throw VMMError("ACPI tables", cause: error)
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
            throw VMMError("kernel command line", cause: error)
        }

        let placed = try plan.acpiTables()
        do {
            for table in placed { try memory.write(table.bytes, to: GuestAddress(table.address)) }
            try line.write(to: memory, at: X86MemoryLayout.commandLineAddress)
            try MPTable(cpuCount: plan.vcpus).write(to: memory)
        } catch {
            throw VMMError("writing boot tables", cause: error)
        }

        let isELF = bytes.count >= 4 && Array(bytes[0..<4]) == elfMagic
        let loaded: LoadedKernel
        do {
            loaded = isELF ? try ELFKernel(bytes).load(into: memory) : try BzImage(bytes).load(into: memory)
        } catch {
            throw VMMError("kernel (\(isELF ? "ELF" : "bzImage"))", cause: error)
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
                throw VMMError("initrd (\(initrd.count) bytes)", cause: error)
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
                throw VMMError("PVH start info", cause: error)
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
            throw VMMError("zero page", cause: error)
        }
        return .linux64(entry: loaded.entry.rawValue)
    }
}
