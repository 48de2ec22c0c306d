// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// The one representation of x86 vCPU state in swift-vmm: X86Machine builds boot state
// with these types, Hypervisor's protocols take and return them, and each hypervisor
// backend converts them to its own layout (KVM's `kvm_regs`, `kvm_segment` ...) in one place.

/// x86 general-purpose registers, RIP and RFLAGS.
///
/// ```swift
/// var registers = StandardRegisters(rip: 0x1000, rsp: 0x8000)
/// registers.rsi = 0x7000  // Linux's boot_params
/// ```
public struct StandardRegisters: Hashable, Sendable {
    /// RAX.
    public var rax: UInt64 = 0
    /// RBX.
    public var rbx: UInt64 = 0
    /// RCX.
    public var rcx: UInt64 = 0
    /// RDX.
    public var rdx: UInt64 = 0
    /// RSI.
    public var rsi: UInt64 = 0
    /// RDI.
    public var rdi: UInt64 = 0
    /// RSP.
    public var rsp: UInt64 = 0
    /// RBP.
    public var rbp: UInt64 = 0
    /// R8-R11.
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    /// R12-R15.
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    /// RIP.
    public var rip: UInt64 = 0
    /// RFLAGS (bit 1 must be set).
    public var rflags: UInt64 = 2

    /// Registers with the given instruction pointer, stack pointer and flags; the rest zero.
    public init(rip: UInt64 = 0, rsp: UInt64 = 0, rflags: UInt64 = 2) {
        self.rip = rip
        self.rsp = rsp
        self.rflags = rflags
    }
}

/// An x86 segment register, hidden part included.
///
/// ```swift
/// let code64 = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 8, type: 0xB, long: true, granularity: true)
/// ```
public struct Segment: Hashable, Sendable {
    /// Base address.
    public var base: UInt64
    /// Limit, in bytes (already scaled by the granularity bit).
    public var limit: UInt32
    /// Selector: GDT index << 3 (plus table indicator and RPL).
    public var selector: UInt16
    /// Type field (for example 0xB execute/read accessed code, 0x3 read/write accessed data).
    public var type: UInt8
    /// Present bit.
    public var present: Bool = true
    /// Descriptor privilege level.
    public var dpl: UInt8 = 0
    /// Default operation size (32-bit) bit.
    public var db: Bool = false
    /// A code or data segment (the descriptor's S bit); false for system segments such as a TSS.
    public var codeOrData: Bool = true
    /// 64-bit code segment.
    public var long: Bool = false
    /// Granularity (limit in 4 KiB units).
    public var granularity: Bool = false
    /// The descriptor's AVL bit (available to software).
    public var available: Bool = false
    /// Marks an unusable (null) segment.
    public var unusable: Bool = false

    /// A segment; flags default to a present, ring-0 code/data segment.
    public init(
        base: UInt64, limit: UInt32, selector: UInt16, type: UInt8, db: Bool = false, long: Bool = false,
        granularity: Bool = false
    ) {
        self.base = base
        self.limit = limit
        self.selector = selector
        self.type = type
        self.db = db
        self.long = long
        self.granularity = granularity
    }
}

/// A descriptor table register (GDTR, IDTR).
///
/// ```swift
/// let gdtr = DescriptorTable(base: 0x500, limit: 0x17)  // three 8-byte descriptors
/// ```
public struct DescriptorTable: Hashable, Sendable {
    /// Base address.
    public var base: UInt64
    /// Limit (size - 1).
    public var limit: UInt16

    /// A table at `base` with `limit`.
    public init(base: UInt64, limit: UInt16) {
        self.base = base
        self.limit = limit
    }
}

/// x86 segments, descriptor tables, control registers and EFER.
///
/// ```swift
/// var special = SpecialRegisters()
/// special.cr0 |= 1  // protected mode
/// ```
public struct SpecialRegisters: Hashable, Sendable {
    /// Segment registers.
    public var cs, ds, es, fs, gs, ss: Segment
    /// The task register and the LDT register.
    public var tr, ldt: Segment
    /// GDTR.
    public var gdt: DescriptorTable
    /// IDTR.
    public var idt: DescriptorTable
    /// Control registers.
    public var cr0, cr2, cr3, cr4, cr8: UInt64
    /// EFER.
    public var efer: UInt64
    /// The local APIC base MSR.
    public var apicBase: UInt64

    /// Every field zero (segments null), as a template to fill in.
    public init() {
        let null = Segment(base: 0, limit: 0, selector: 0, type: 0)
        cs = null
        ds = null
        es = null
        fs = null
        gs = null
        ss = null
        tr = null
        ldt = null
        gdt = DescriptorTable(base: 0, limit: 0)
        idt = DescriptorTable(base: 0, limit: 0)
        cr0 = 0
        cr2 = 0
        cr3 = 0
        cr4 = 0
        cr8 = 0
        efer = 0
        apicBase = 0
    }
}

/// One model-specific register and its value.
///
/// ```swift
/// let lstar = ModelSpecificRegister(index: 0xc000_0082, value: entry)
/// ```
public struct ModelSpecificRegister: Hashable, Sendable {
    /// The MSR number.
    public var index: UInt32
    /// Its value.
    public var value: UInt64

    /// The register `index` holding `value`.
    public init(index: UInt32, value: UInt64) {
        self.index = index
        self.value = value
    }
}

/// The x87 and SSE state (the legacy `FXSAVE` area's fields).
///
/// ```swift
/// let reset = FPUState(controlWord: BootFPU.controlWord, mxcsr: BootFPU.mxcsr)
/// ```
public struct FPUState: Hashable, Sendable {
    /// The x87 data registers ST0-ST7, 16 bytes each (80 bits used).
    public var registers: [UInt8]
    /// FCW.
    public var controlWord: UInt16
    /// FSW.
    public var statusWord: UInt16
    /// The abridged tag word (one bit per register).
    public var tagWord: UInt8
    /// The last x87 opcode.
    public var lastOpcode: UInt16
    /// The last x87 instruction pointer.
    public var lastInstruction: UInt64
    /// The last x87 data pointer.
    public var lastData: UInt64
    /// XMM0-XMM15, 16 bytes each.
    public var xmm: [UInt8]
    /// MXCSR.
    public var mxcsr: UInt32

    /// The state with the given control words and every register zero.
    public init(controlWord: UInt16 = BootFPU.controlWord, mxcsr: UInt32 = BootFPU.mxcsr) {
        registers = [UInt8](repeating: 0, count: 128)
        self.controlWord = controlWord
        statusWord = 0
        tagWord = 0
        lastOpcode = 0
        lastInstruction = 0
        lastData = 0
        xmm = [UInt8](repeating: 0, count: 256)
        self.mxcsr = mxcsr
    }
}

/// The local APIC's register page (1 KiB, the layout the APIC maps at its base).
///
/// ```swift
/// var apic = try cpu.localAPIC()
/// LocalAPIC.configureLINTs(&apic.registers)
/// try cpu.setLocalAPIC(apic)
/// ```
public struct LocalAPICState: Hashable, Sendable {
    /// Bytes in the page.
    public static var size: Int { 1024 }
    /// The register page; exactly ``size`` bytes.
    public var registers: [UInt8]

    /// A page from `registers`, cut or zero-padded to ``size`` bytes.
    public init(registers: [UInt8]) {
        self.registers = Array(registers.prefix(Self.size))
        if self.registers.count < Self.size {
            self.registers += [UInt8](repeating: 0, count: Self.size - self.registers.count)
        }
    }
}

#if !hasFeature(Embedded)
// A VMM stores register state in its snapshots (integration-vmm as JSON). Embedded Swift has no
// Codable; the conformances are declared here because only this file can synthesize them.
extension StandardRegisters: Codable {}
extension Segment: Codable {}
extension DescriptorTable: Codable {}
extension SpecialRegisters: Codable {}
extension ModelSpecificRegister: Codable {}
extension FPUState: Codable {}
extension LocalAPICState: Codable {
    private enum CodingKeys: String, CodingKey { case registers }

    /// Decodes a page; a page that is not exactly ``size`` bytes is refused, not padded.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let registers = try container.decode([UInt8].self, forKey: .registers)
        guard registers.count == Self.size else {
            throw DecodingError.dataCorruptedError(
                forKey: .registers, in: container,
                debugDescription: "a local APIC page is \(Self.size) bytes, not \(registers.count)")
        }
        self.init(registers: registers)
    }
}
#endif
