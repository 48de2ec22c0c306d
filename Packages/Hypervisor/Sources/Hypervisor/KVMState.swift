// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import KVMIoctls
import X86Machine

/// The one place x86 state crosses between X86Machine's types and KVM's structures.
enum KVMState {
    static func entry(_ raw: kvm_cpuid_entry2) -> CPUIDEntry {
        CPUIDEntry(
            function: raw.function, index: raw.index, flags: raw.flags, eax: raw.eax, ebx: raw.ebx, ecx: raw.ecx,
            edx: raw.edx)
    }

    static func entry(_ entry: CPUIDEntry) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2(
            function: entry.function, index: entry.index, flags: entry.flags, eax: entry.eax, ebx: entry.ebx,
            ecx: entry.ecx, edx: entry.edx, padding: (0, 0, 0))
    }

    static func segment(_ raw: kvm_segment) -> Segment {
        var segment = Segment(
            base: raw.base, limit: raw.limit, selector: raw.selector, type: raw.type, db: raw.db != 0,
            long: raw.l != 0, granularity: raw.g != 0)
        segment.present = raw.present != 0
        segment.dpl = raw.dpl
        segment.codeOrData = raw.s != 0
        segment.available = raw.avl != 0
        segment.unusable = raw.unusable != 0
        return segment
    }

    static func segment(_ segment: Segment) -> kvm_segment {
        kvm_segment(
            base: segment.base, limit: segment.limit, selector: segment.selector, type: segment.type,
            present: segment.present ? 1 : 0, dpl: segment.dpl, db: segment.db ? 1 : 0, s: segment.codeOrData ? 1 : 0,
            l: segment.long ? 1 : 0, g: segment.granularity ? 1 : 0, avl: segment.available ? 1 : 0,
            unusable: segment.unusable ? 1 : 0, padding: 0)
    }

    static func special(_ raw: kvm_sregs) -> SpecialRegisters {
        var special = SpecialRegisters()
        special.cs = segment(raw.cs)
        special.ds = segment(raw.ds)
        special.es = segment(raw.es)
        special.fs = segment(raw.fs)
        special.gs = segment(raw.gs)
        special.ss = segment(raw.ss)
        special.tr = segment(raw.tr)
        special.ldt = segment(raw.ldt)
        special.gdt = DescriptorTable(base: raw.gdt.base, limit: raw.gdt.limit)
        special.idt = DescriptorTable(base: raw.idt.base, limit: raw.idt.limit)
        special.cr0 = raw.cr0
        special.cr2 = raw.cr2
        special.cr3 = raw.cr3
        special.cr4 = raw.cr4
        special.cr8 = raw.cr8
        special.efer = raw.efer
        special.apicBase = raw.apic_base
        return special
    }

    /// Every field of `special` into `raw` (KVM's pending-interrupt bitmap is left as it is).
    static func apply(_ special: SpecialRegisters, to raw: inout kvm_sregs) {
        raw.cs = segment(special.cs)
        raw.ds = segment(special.ds)
        raw.es = segment(special.es)
        raw.fs = segment(special.fs)
        raw.gs = segment(special.gs)
        raw.ss = segment(special.ss)
        raw.tr = segment(special.tr)
        raw.ldt = segment(special.ldt)
        raw.gdt.base = special.gdt.base
        raw.gdt.limit = special.gdt.limit
        raw.idt.base = special.idt.base
        raw.idt.limit = special.idt.limit
        raw.cr0 = special.cr0
        raw.cr2 = special.cr2
        raw.cr3 = special.cr3
        raw.cr4 = special.cr4
        raw.cr8 = special.cr8
        raw.efer = special.efer
        raw.apic_base = special.apicBase
    }

    static func fpu(_ raw: kvm_fpu) -> FPUState {
        var state = FPUState(controlWord: raw.fcw, mxcsr: raw.mxcsr)
        var copy = raw
        // SAFETY: fpr and xmm are fixed-size byte arrays inside `copy`, alive for the calls.
        state.registers = unsafe withUnsafeBytes(of: &copy.fpr) { unsafe Array($0) }
        // SAFETY: as above.
        state.xmm = unsafe withUnsafeBytes(of: &copy.xmm) { unsafe Array($0) }
        state.statusWord = raw.fsw
        state.tagWord = raw.ftwx
        state.lastOpcode = raw.last_opcode
        state.lastInstruction = raw.last_ip
        state.lastData = raw.last_dp
        return state
    }

    static func fpu(_ state: FPUState) -> kvm_fpu {
        var raw = kvm_fpu()
        raw.fcw = state.controlWord
        raw.fsw = state.statusWord
        raw.ftwx = state.tagWord
        raw.last_opcode = state.lastOpcode
        raw.last_ip = state.lastInstruction
        raw.last_dp = state.lastData
        raw.mxcsr = state.mxcsr
        // SAFETY: copies at most the 128 (fpr) and 256 (xmm) bytes the tuples hold.
        unsafe withUnsafeMutableBytes(of: &raw.fpr) { target in
            unsafe state.registers.prefix(target.count).withUnsafeBytes { unsafe target.copyBytes(from: $0) }
        }
        // SAFETY: as above.
        unsafe withUnsafeMutableBytes(of: &raw.xmm) { target in
            unsafe state.xmm.prefix(target.count).withUnsafeBytes { unsafe target.copyBytes(from: $0) }
        }
        return raw
    }

    static func localAPIC(_ raw: kvm_lapic_state) -> LocalAPICState {
        var copy = raw
        // SAFETY: regs is a fixed 1 KiB array inside `copy`, alive for the call.
        return unsafe LocalAPICState(registers: withUnsafeBytes(of: &copy.regs) { unsafe Array($0) })
    }

    static func localAPIC(_ state: LocalAPICState) -> kvm_lapic_state {
        var raw = kvm_lapic_state()
        // SAFETY: copies at most the 1 KiB the register array holds.
        unsafe withUnsafeMutableBytes(of: &raw.regs) { target in
            unsafe state.registers.prefix(target.count).withUnsafeBytes { unsafe target.copyBytes(from: $0) }
        }
        return raw
    }

    static func standard(_ raw: kvm_regs) -> StandardRegisters {
        var regs = StandardRegisters(rip: raw.rip, rsp: raw.rsp, rflags: raw.rflags)
        regs.rax = raw.rax
        regs.rbx = raw.rbx
        regs.rcx = raw.rcx
        regs.rdx = raw.rdx
        regs.rsi = raw.rsi
        regs.rdi = raw.rdi
        regs.rbp = raw.rbp
        regs.r8 = raw.r8
        regs.r9 = raw.r9
        regs.r10 = raw.r10
        regs.r11 = raw.r11
        regs.r12 = raw.r12
        regs.r13 = raw.r13
        regs.r14 = raw.r14
        regs.r15 = raw.r15
        return regs
    }

    static func standard(_ regs: StandardRegisters) -> kvm_regs {
        kvm_regs(
            rax: regs.rax, rbx: regs.rbx, rcx: regs.rcx, rdx: regs.rdx, rsi: regs.rsi, rdi: regs.rdi, rsp: regs.rsp,
            rbp: regs.rbp, r8: regs.r8, r9: regs.r9, r10: regs.r10, r11: regs.r11, r12: regs.r12, r13: regs.r13,
            r14: regs.r14, r15: regs.r15, rip: regs.rip, rflags: regs.rflags)
    }

    static func debug(_ raw: kvm_debugregs) -> DebugRegisters {
        DebugRegisters(addresses: [raw.db.0, raw.db.1, raw.db.2, raw.db.3], dr6: raw.dr6, dr7: raw.dr7)
    }

    static func debug(_ registers: DebugRegisters) -> kvm_debugregs {
        var raw = kvm_debugregs()
        let addresses = registers.addresses + [0, 0, 0, 0]
        raw.db = (addresses[0], addresses[1], addresses[2], addresses[3])
        raw.dr6 = registers.dr6
        raw.dr7 = registers.dr7
        return raw
    }

    static func guestDebug(_ debug: GuestDebug) -> kvm_guest_debug {
        var raw = kvm_guest_debug()
        guard debug.enabled else { return raw }
        raw.control = UInt32(KVM_GUESTDBG_ENABLE)
        if debug.singleStep { raw.control |= UInt32(KVM_GUESTDBG_SINGLESTEP) }
        if debug.softwareBreakpoints { raw.control |= UInt32(KVM_GUESTDBG_USE_SW_BP) }
        if let hardware = debug.hardwareBreakpoints {
            raw.control |= UInt32(KVM_GUESTDBG_USE_HW_BP)
            let addresses = hardware.addresses + [0, 0, 0, 0]
            raw.arch.debugreg = (addresses[0], addresses[1], addresses[2], addresses[3], 0, 0, 0, hardware.dr7)
        }
        return raw
    }

    /// XCR0 from KVM's list of extended control registers (1 when the host has none: x87 only).
    static func xcr0(_ raw: kvm_xcrs) -> UInt64 {
        var copy = raw
        let count = min(Int(raw.nr_xcrs), 16)
        // SAFETY: `xcrs` is a fixed array of 16 kvm_xcr inside `copy`; at most `count` <= 16 are read.
        return unsafe withUnsafeBytes(of: &copy.xcrs) { bytes in
            let entries = unsafe bytes.bindMemory(to: kvm_xcr.self)
            return unsafe entries.prefix(count).first { $0.xcr == 0 }?.value ?? 1
        }
    }

    static func xcrs(xcr0: UInt64) -> kvm_xcrs {
        var raw = kvm_xcrs()
        raw.nr_xcrs = 1
        raw.xcrs.0 = kvm_xcr(xcr: 0, reserved: 0, value: xcr0)
        return raw
    }

    static func events(_ raw: kvm_vcpu_events) -> VCPUEvents {
        var events = VCPUEvents()
        events.exceptionInjected = raw.exception.injected != 0
        events.exceptionPending = raw.exception.pending != 0
        events.exceptionVector = raw.exception.nr
        events.exceptionErrorCode = raw.exception.has_error_code != 0 ? raw.exception.error_code : nil
        events.exceptionPayload = raw.exception_has_payload != 0 ? raw.exception_payload : nil
        events.interruptInjected = raw.interrupt.injected != 0
        events.interruptVector = raw.interrupt.nr
        events.interruptSoft = raw.interrupt.soft != 0
        events.interruptShadow = raw.interrupt.shadow
        events.nmiInjected = raw.nmi.injected != 0
        events.nmiPending = raw.nmi.pending != 0
        events.nmiMasked = raw.nmi.masked != 0
        events.sipiVector = raw.sipi_vector
        events.inSMM = raw.smi.smm != 0
        events.smiPending = raw.smi.pending != 0
        events.smmInsideNMI = raw.smi.smm_inside_nmi != 0
        events.latchedINIT = raw.smi.latched_init != 0
        return events
    }

    static func events(_ events: VCPUEvents) -> kvm_vcpu_events {
        var raw = kvm_vcpu_events()
        raw.exception.injected = events.exceptionInjected ? 1 : 0
        raw.exception.pending = events.exceptionPending ? 1 : 0
        raw.exception.nr = events.exceptionVector
        raw.exception.has_error_code = events.exceptionErrorCode == nil ? 0 : 1
        raw.exception.error_code = events.exceptionErrorCode ?? 0
        raw.interrupt.injected = events.interruptInjected ? 1 : 0
        raw.interrupt.nr = events.interruptVector
        raw.interrupt.soft = events.interruptSoft ? 1 : 0
        raw.interrupt.shadow = events.interruptShadow
        raw.nmi.injected = events.nmiInjected ? 1 : 0
        raw.nmi.pending = events.nmiPending ? 1 : 0
        raw.nmi.masked = events.nmiMasked ? 1 : 0
        raw.sipi_vector = events.sipiVector
        raw.smi.smm = events.inSMM ? 1 : 0
        raw.smi.pending = events.smiPending ? 1 : 0
        raw.smi.smm_inside_nmi = events.smmInsideNMI ? 1 : 0
        raw.smi.latched_init = events.latchedINIT ? 1 : 0
        // The payload is left out (KVM reports it only once the VMM enables
        // KVM_CAP_EXCEPTION_PAYLOAD): a pending #PF or #DB is delivered with its payload applied.
        raw.flags =
            UInt32(KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR)
            | UInt32(KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM)
        return raw
    }

    /// The irqchips KVM emulates on x86, by the names their state is saved under.
    static var chips: [(name: String, chip: UInt32)] {
        [
            ("kvm-pic-master", UInt32(KVM_IRQCHIP_PIC_MASTER)), ("kvm-pic-slave", UInt32(KVM_IRQCHIP_PIC_SLAVE)),
            ("kvm-ioapic", UInt32(KVM_IRQCHIP_IOAPIC)),
        ]
    }
    /// The name the PIT's state is saved under.
    static var pitName: String { "kvm-pit" }

    /// The bytes of a plain C structure.
    static func bytes<T>(of value: T) -> [UInt8] {
        var copy = value
        // SAFETY: reads exactly the structure's own bytes, alive for the call.
        return unsafe withUnsafeBytes(of: &copy) { unsafe Array($0) }
    }

    /// Fills a plain C structure from saved bytes, which must be exactly its size.
    static func load<T>(_ bytes: [UInt8], into value: inout T, call: String) throws(KVMError) {
        guard bytes.count == MemoryLayout<T>.size else {
            throw KVMError(call, .invalidArgument("\(bytes.count) bytes saved, \(MemoryLayout<T>.size) expected"))
        }
        // SAFETY: the sizes are equal (checked above); T is a plain C structure.
        unsafe withUnsafeMutableBytes(of: &value) { target in
            unsafe bytes.withUnsafeBytes { unsafe target.copyBytes(from: $0) }
        }
    }

    /// Fills a plain C structure from a saved platform part.
    static func load<T>(_ part: PlatformStatePart, into value: inout T) throws(HypervisorError) {
        do {
            try load(part.bytes, into: &value, call: "restore \(part.name)")
        } catch {
            throw HypervisorError(error)
        }
    }
}
