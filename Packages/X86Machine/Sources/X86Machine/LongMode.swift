// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// A GDT descriptor (8 bytes) built from flags, base and limit the way the
/// Intel SDM (vol. 3, 3.4.5) packs them.
///
/// ```swift
/// let code = GDTEntry(flags: 0xa09b, base: 0, limit: 0xfffff)   // 64-bit code, present, DPL 0
/// let register = code.segment(index: 1)                         // selector 0x8, l = 1
/// ```
public struct GDTEntry: Equatable, Sendable {
    /// The packed descriptor.
    public var rawValue: UInt64

    /// Packs `flags` (bits 0-7 access byte, bits 12-15 G/DB/L/AVL), a 32-bit base and a 20-bit limit.
    public init(flags: UInt16, base: UInt32, limit: UInt32) {
        let base = UInt64(base)
        let limit = UInt64(limit)
        let flags = UInt64(flags)
        rawValue =
            (base & 0xff00_0000) << (56 - 24) | (flags & 0xf0ff) << 40 | (limit & 0xf_0000) << (48 - 16)
            | (base & 0x00ff_ffff) << 16 | (limit & 0xffff)
    }

    /// Wraps a packed descriptor.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The descriptor as a loaded segment register with selector `index << 3`.
    public func segment(index: Int) -> Segment {
        let raw = rawValue
        let base = (raw >> 16) & 0xff_ffff | ((raw >> 56) & 0xff) << 24
        let rawLimit = UInt32(truncatingIfNeeded: (raw & 0xffff) | ((raw >> 48) & 0xf) << 16)
        let granularity = (raw >> 55) & 1 == 1
        var segment = Segment(
            base: base, limit: granularity ? rawLimit << 12 | 0xfff : rawLimit, selector: UInt16(index * 8),
            type: UInt8((raw >> 40) & 0xf), db: (raw >> 54) & 1 == 1, long: (raw >> 53) & 1 == 1,
            granularity: granularity)
        segment.present = (raw >> 47) & 1 == 1
        segment.dpl = UInt8((raw >> 45) & 3)
        segment.codeOrData = (raw >> 44) & 1 == 1
        segment.available = (raw >> 52) & 1 == 1
        segment.unusable = !segment.present
        return segment
    }
}

/// The boot GDT for entering a 64-bit kernel: null, 64-bit code (selector 0x8),
/// data (0x10) and a TSS (0x18) that only satisfies VM entry checks. A PVH entry
/// uses the 32-bit code descriptor variant.
///
/// ```swift
/// try BootGDT.longMode.write(to: memory)
/// let cs = BootGDT.longMode.segment(1)   // load into the vCPU's CS
/// ```
public struct BootGDT: Equatable, Sendable {
    /// The descriptors, index 0 first.
    public var entries: [GDTEntry]

    // The tables below are computed properties, not stored globals: a lazily initialized global
    // holding arrays crashed the riscv64 Embedded -Osize build (Swift 6.3.1) depending on run order.

    /// Long mode: 64-bit code, 32-bit-flat data, TSS.
    public static var longMode: BootGDT {
        BootGDT(entries: [
            GDTEntry(rawValue: 0), GDTEntry(flags: 0xa09b, base: 0, limit: 0xfffff),
            GDTEntry(flags: 0xc093, base: 0, limit: 0xfffff), GDTEntry(flags: 0x808b, base: 0, limit: 0xfffff),
        ])
    }

    /// 32-bit protected mode (PVH entry): 32-bit flat code and data, TSS.
    public static var protectedMode: BootGDT {
        BootGDT(entries: [
            GDTEntry(rawValue: 0), GDTEntry(flags: 0xc09b, base: 0, limit: 0xfffff),
            GDTEntry(flags: 0xc093, base: 0, limit: 0xfffff), GDTEntry(flags: 0x808b, base: 0, limit: 0xfffff),
        ])
    }

    /// Creates a GDT.
    public init(entries: [GDTEntry]) { self.entries = entries }

    /// The segment register for descriptor `index`.
    public func segment(_ index: Int) -> Segment { entries[index].segment(index: index) }

    /// The GDT limit to load into GDTR (size - 1).
    public var limit: UInt16 { UInt16(entries.count * 8 - 1) }

    /// Writes the descriptors at `address` and an empty IDT (8 zero bytes) at `idtAddress`.
    public func write(
        to memory: some GuestMemory, at address: GuestAddress = X86MemoryLayout.gdtAddress,
        idtAddress: GuestAddress = X86MemoryLayout.idtAddress
    ) throws(X86MachineError) {
        var bytes: [UInt8] = []
        for entry in entries { bytes.appendLittleEndian(entry.rawValue) }
        try writeBytes(bytes, to: memory, at: address)
        try writeBytes([UInt8](repeating: 0, count: 8), to: memory, at: idtAddress)
    }
}

/// Identity-mapped page tables for long-mode entry: a PML4, one PDPT and one
/// page directory per mapped GiB, all with 2 MiB pages, placed contiguously
/// from `pml4Address`. Linux's 64-bit entry only needs its own image and the
/// zero page mapped, so 1 GiB usually suffices; map more for kernels loaded high.
///
/// ```swift
/// let tables = try IdentityPageTables(mappedBytes: 4 << 30)
/// try tables.write(to: memory)
/// print(tables.cr3)   // load into CR3 along with LongModeRegisters
/// ```
public struct IdentityPageTables: Equatable, Sendable {
    /// Where the PML4 goes (the PDPT follows at +4 KiB, the page directories after it).
    public var pml4Address: GuestAddress
    /// Bytes identity-mapped from 0 (rounded up to whole GiB).
    public var mappedBytes: UInt64

    /// Tables mapping `[0, mappedBytes)` (at most 512 GiB).
    public init(
        pml4Address: GuestAddress = X86MemoryLayout.pml4Address, mappedBytes: UInt64 = 1 << 30
    )
        throws(X86MachineError)
    {
        guard mappedBytes > 0, mappedBytes <= 512 << 30 else { throw .identityMappingTooLarge(mappedBytes) }
        self.pml4Address = pml4Address
        self.mappedBytes = mappedBytes
    }

    /// Number of page directories (one per GiB).
    public var directoryCount: Int { Int((mappedBytes + (1 << 30) - 1) >> 30) }

    /// Bytes the tables occupy: PML4 + PDPT + the page directories.
    public var size: UInt64 { UInt64(2 + directoryCount) * 4096 }

    /// The value for CR3.
    public var cr3: UInt64 { pml4Address.rawValue }

    /// The tables' bytes, to be placed at `pml4Address`.
    public var bytes: [UInt8] {
        let base = pml4Address.rawValue
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(size))
        // Present | writable.
        bytes.appendLittleEndian((base + 0x1000) | 0x03)
        bytes += [UInt8](repeating: 0, count: 4096 - 8)
        for directory in 0..<directoryCount {
            bytes.appendLittleEndian((base + 0x2000 + UInt64(directory) * 0x1000) | 0x03)
        }
        bytes += [UInt8](repeating: 0, count: 4096 - 8 * directoryCount)
        for entry in 0..<(directoryCount * 512) {
            bytes.appendLittleEndian(UInt64(entry) << 21 | 0x83)  // present | writable | 2 MiB page
        }
        return bytes
    }

    /// Writes the tables into guest memory.
    public func write(to memory: some GuestMemory) throws(X86MachineError) {
        try writeBytes(bytes, to: memory, at: pml4Address)
    }
}

/// Control registers and EFER for entering long mode with paging on.
///
/// ```swift
/// let registers = LongModeRegisters(cr3: tables.cr3)
/// // sregs.cr0 = registers.cr0; sregs.cr4 = registers.cr4; sregs.efer = registers.efer ...
/// ```
public struct LongModeRegisters: Equatable, Sendable {
    /// CR0.PE.
    public static let cr0ProtectionEnable: UInt64 = 1 << 0
    /// CR0.ET (always 1 on modern CPUs).
    public static let cr0ExtensionType: UInt64 = 1 << 4
    /// CR0.PG.
    public static let cr0Paging: UInt64 = 1 << 31
    /// CR4.PAE.
    public static let cr4PhysicalAddressExtension: UInt64 = 1 << 5
    /// EFER.LME.
    public static let eferLongModeEnable: UInt64 = 1 << 8
    /// EFER.LMA.
    public static let eferLongModeActive: UInt64 = 1 << 10

    /// CR0: protection, paging.
    public var cr0: UInt64 = cr0ProtectionEnable | cr0ExtensionType | cr0Paging
    /// CR3: the PML4.
    public var cr3: UInt64
    /// CR4: PAE.
    public var cr4: UInt64 = cr4PhysicalAddressExtension
    /// EFER: long mode enabled and active.
    public var efer: UInt64 = eferLongModeEnable | eferLongModeActive

    /// Registers for page tables rooted at `cr3`.
    public init(cr3: UInt64) { self.cr3 = cr3 }
}

/// The general-purpose register values a Linux 64-bit boot starts with.
///
/// ```swift
/// let start = BootRegisters.linux64(entry: kernel.entry, zeroPage: X86MemoryLayout.zeroPageAddress)
/// ```
public struct BootRegisters: Equatable, Sendable {
    /// Instruction pointer.
    public var rip: UInt64
    /// Stack pointer.
    public var rsp: UInt64
    /// Frame pointer.
    public var rbp: UInt64
    /// Linux 64-bit boot: the zero page.
    public var rsi: UInt64
    /// PVH boot: the `hvm_start_info`.
    public var rbx: UInt64
    /// RFLAGS (bit 1 is always set).
    public var rflags: UInt64

    /// Registers for Linux's 64-bit entry: `rsi` = zero page, interrupts off.
    public static func linux64(entry: GuestAddress, zeroPage: GuestAddress) -> BootRegisters {
        BootRegisters(
            rip: entry.rawValue, rsp: X86MemoryLayout.bootStackPointer, rbp: X86MemoryLayout.bootStackPointer,
            rsi: zeroPage.rawValue, rbx: 0, rflags: 0x2)
    }

    /// Registers for the PVH 32-bit entry: `rbx` = `hvm_start_info`.
    public static func pvh(entry: GuestAddress, startInfo: GuestAddress) -> BootRegisters {
        BootRegisters(rip: entry.rawValue, rsp: 0, rbp: 0, rsi: 0, rbx: startInfo.rawValue, rflags: 0x2)
    }
}

/// The FPU state a vCPU starts with (x87 control word and MXCSR at their reset values).
public enum BootFPU {
    /// x87 FPU control word: all exceptions masked, 64-bit precision, round to nearest.
    public static let controlWord: UInt16 = 0x37f
    /// MXCSR: all SSE exceptions masked.
    public static let mxcsr: UInt32 = 0x1f80
}

/// Model-specific registers a vCPU is set up with before a Linux boot.
///
/// ```swift
/// try cpu.setMSRs(BootMSRs.entries)
/// ```
public enum BootMSRs {
    /// `IA32_SYSENTER_CS`.
    public static let sysenterCS: UInt32 = 0x174
    /// `IA32_SYSENTER_ESP`.
    public static let sysenterESP: UInt32 = 0x175
    /// `IA32_SYSENTER_EIP`.
    public static let sysenterEIP: UInt32 = 0x176
    /// `IA32_TSC`.
    public static let tsc: UInt32 = 0x10
    /// `IA32_MISC_ENABLE`.
    public static let miscEnable: UInt32 = 0x1a0
    /// `IA32_MTRR_DEF_TYPE`.
    public static let mtrrDefaultType: UInt32 = 0x2ff
    /// `STAR`.
    public static let star: UInt32 = 0xc000_0081
    /// `LSTAR`.
    public static let lstar: UInt32 = 0xc000_0082
    /// `CSTAR`.
    public static let cstar: UInt32 = 0xc000_0083
    /// `SYSCALL_MASK` (FMASK).
    public static let syscallMask: UInt32 = 0xc000_0084
    /// `KERNEL_GS_BASE`.
    public static let kernelGSBase: UInt32 = 0xc000_0102

    /// The MSRs and values: syscall/sysenter state cleared, TSC 0, fast strings
    /// enabled, MTRRs enabled with write-back as the default type.
    public static var entries: [ModelSpecificRegister] {
        let values: [(UInt32, UInt64)] = [
            (sysenterCS, 0), (sysenterESP, 0), (sysenterEIP, 0), (star, 0), (cstar, 0), (kernelGSBase, 0),
            (syscallMask, 0), (lstar, 0), (tsc, 0), (miscEnable, 1), (mtrrDefaultType, 1 << 11 | 6),
        ]
        return values.map { ModelSpecificRegister(index: $0.0, value: $0.1) }
    }
}

/// The local APIC's LINT0/LINT1 set up as PC firmware leaves them: LINT0 in
/// ExtINT mode (the 8259 PIC), LINT1 as NMI. Works on the 1 KiB register page a
/// hypervisor returns (KVM_GET_LAPIC) and is handed back (KVM_SET_LAPIC).
///
/// ```swift
/// var page = lapicState   // 1024 bytes from the hypervisor
/// LocalAPIC.configureLINTs(&page)
/// ```
public enum LocalAPIC {
    /// `LVT LINT0` register offset.
    public static let lint0Offset = 0x350
    /// `LVT LINT1` register offset.
    public static let lint1Offset = 0x360
    /// Delivery mode ExtINT.
    public static let extINT: UInt32 = 0x7
    /// Delivery mode NMI.
    public static let nmi: UInt32 = 0x4

    /// Sets the delivery mode (bits 8-10) of LINT0 to ExtINT and LINT1 to NMI, keeping the other bits.
    /// A page shorter than 0x364 bytes is left unchanged.
    public static func configureLINTs(_ page: inout [UInt8]) {
        guard page.count >= lint1Offset + 4 else { return }
        setDeliveryMode(&page, at: lint0Offset, mode: extINT)
        setDeliveryMode(&page, at: lint1Offset, mode: nmi)
    }

    /// The delivery mode (bits 8-10) of the LVT register at `offset`.
    public static func deliveryMode(_ page: [UInt8], at offset: Int) -> UInt32 { (register(page, offset) >> 8) & 7 }

    static func register(_ page: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(page[offset]) | UInt32(page[offset + 1]) << 8 | UInt32(page[offset + 2]) << 16
            | UInt32(page[offset + 3]) << 24
    }

    static func setDeliveryMode(_ page: inout [UInt8], at offset: Int, mode: UInt32) {
        let value = (register(page, offset) & ~UInt32(0x700)) | mode << 8
        for index in 0..<4 { page[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
}
