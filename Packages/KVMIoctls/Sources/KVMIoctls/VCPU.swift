// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMBindings
import VMMSysUtil

/// One model-specific register value.
///
/// ```swift
/// try vcpu.setMSRs([MSREntry(index: 0x174, data: 0x10)])  // IA32_SYSENTER_CS
/// ```
public struct MSREntry: Hashable, Sendable {
    /// The MSR number (for example 0xC000_0080, EFER).
    public var index: UInt32
    /// Its value.
    public var data: UInt64

    /// Pairs an index with a value.
    public init(index: UInt32, data: UInt64) {
        self.index = index
        self.data = data
    }
}

/// A virtual CPU: register state, interrupt state, and ``run()``.
///
/// A `VCPU` is driven by one thread at a time. Another thread may stop a running
/// vCPU through a ``VcpuKicker`` (see ``kicker(signal:)``); nothing else is
/// safe to call concurrently with ``run()``.
///
/// ```swift
/// let vcpu = try vm.createVCPU(id: 0)
/// var regs = try vcpu.registers()
/// regs.rip = 0x1000
/// try vcpu.setRegisters(regs)
/// let exit = try vcpu.run()
/// ```
@safe  // SAFETY: owns the kvm_run mapping (unmapped in deinit); exits read it only within its mapped size.
public final class VCPU: @unchecked Sendable {
    // @unchecked: the kvm_run mapping is mutable shared memory; the contract above
    // (one driving thread, kicks through `immediate_exit` only) keeps access ordered.

    /// The vCPU id given at creation (the APIC id on x86).
    public let id: UInt32
    /// The vCPU descriptor, owned by this value.
    public let descriptor: FileDescriptor
    /// The mapped `kvm_run` area, shared with the kernel.
    let runArea: UnsafeMutablePointer<kvm_run>
    let runAreaSize: Int

    init(id: UInt32, descriptor: consuming FileDescriptor, mmapSize: Int) throws(KVMError) {
        // Exits read the whole kvm_run: a smaller area (a broken KVM_GET_VCPU_MMAP_SIZE) is refused, not trusted.
        guard mmapSize >= MemoryLayout<kvm_run>.size else {
            throw KVMError("mmap(kvm_run)", .invalidArgument("vCPU mmap size \(mmapSize) is below sizeof(kvm_run)"))
        }
        // SAFETY: a new shared mapping of the vCPU fd at a kernel-chosen address (replaces nothing); MAP_FAILED is
        // rejected before `mapping` is used.
        guard let mapping = unsafe mmap(nil, mmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor.rawValue, 0),
            unsafe mapping != MAP_FAILED
        else { throw KVMError.current("mmap(kvm_run)") }
        self.id = id
        self.descriptor = descriptor
        // SAFETY: the mapping is mmapSize >= one kvm_run (checked above).
        unsafe self.runArea = unsafe mapping.bindMemory(to: kvm_run.self, capacity: 1)
        self.runAreaSize = mmapSize
    }

    // SAFETY: unmaps exactly init's mapping, once; deinit runs after the last reference (kickers hold one) is gone.
    deinit { unsafe munmap(runArea, runAreaSize) }

    // MARK: Running

    /// `kvm_run.immediate_exit`: when set, the next `KVM_RUN` returns at once with ``VcpuExit/interrupted``.
    public var immediateExit: Bool {
        // SAFETY: runArea is mapped from init until deinit, so it is valid while self is; one-byte field accesses.
        get { unsafe runArea.pointee.immediate_exit != 0 }
        set { unsafe runArea.pointee.immediate_exit = newValue ? 1 : 0 }
    }

    /// The raw `kvm_run` area, for fields this type does not wrap. Valid while `self` lives.
    public var kvmRun: UnsafeMutablePointer<kvm_run> { unsafe runArea }
    // SAFETY: kvmRun only returns the pointer; it stays mapped while self lives, and callers' accesses are unsafe.

    /// `KVM_RUN`: runs the guest until it needs the VMM, and says why.
    ///
    /// A kick (signal while running, or ``immediateExit``) returns ``VcpuExit/interrupted``
    /// and clears ``immediateExit`` so the next call runs again.
    public func run() throws(KVMError) -> VcpuExit {
        if ioctl(descriptor.rawValue, KVMB_RUN) < 0 {
            let errno = Errno.current
            if errno == .interrupted || errno == .wouldBlock {
                // SAFETY: runArea stays mapped until deinit, and self is alive here; a single-byte field store.
                unsafe runArea.pointee.immediate_exit = 0
                return .interrupted
            }
            throw KVMError("KVM_RUN", .system(errno))
        }
        return decodeExit()
    }

    /// Offset of `kvm_run`'s exit union: 32 bytes of fixed fields precede it on x86 (see <linux/kvm.h>).
    /// Swift cannot take key-path offsets into the anonymous union, so the layout is spelled here
    /// and checked by the test suite.
    static let exitUnionOffset = 32

    private func decodeExit() -> VcpuExit {
        // SAFETY: runArea is mapped (>= one kvm_run) while self lives, and KVM_RUN has returned, so the kernel
        // is not writing it; `base` is the mapping start, used only for the bounded views below.
        let run = unsafe runArea.pointee
        let base = unsafe UnsafeMutableRawPointer(runArea)
        switch Int32(bitPattern: run.exit_reason) {
        case KVM_EXIT_IO:
            let io = run.io
            let length = Int(io.size) * Int(io.count)
            // Hostile-guest bound: the data must lie inside the mapping.
            guard Int(io.data_offset) + length <= runAreaSize, io.size > 0 else {
                return .internalError(suberror: UInt32.max, data: [io.data_offset, UInt64(length)])
            }
            // SAFETY: the guard above keeps data_offset + size * count within runAreaSize, the mapped length.
            let data = unsafe ExitData(
                buffer: UnsafeMutableRawBufferPointer(start: base + Int(io.data_offset), count: length),
                size: Int(io.size), count: Int(io.count))
            return io.direction == UInt8(KVM_EXIT_IO_OUT)
                ? .ioOut(port: io.port, data: data) : .ioIn(port: io.port, data: data)
        case KVM_EXIT_MMIO:
            let mmio = run.mmio
            // mmio = { u64 phys_addr; u8 data[8]; u32 len; u8 is_write; }: data follows phys_addr.
            // SAFETY: mmio.data is the 8 bytes at union offset + 8 (layout checked by the tests); len is clamped to 8,
            // far inside the mapping.
            let data = unsafe ExitData(
                buffer: UnsafeMutableRawBufferPointer(
                    start: base + Self.exitUnionOffset + 8, count: Int(min(mmio.len, 8))),
                size: Int(min(mmio.len, 8)), count: 1)
            return mmio.is_write != 0
                ? .mmioWrite(address: mmio.phys_addr, data: data) : .mmioRead(address: mmio.phys_addr, data: data)
        case KVM_EXIT_HLT: return .hlt
        case KVM_EXIT_SHUTDOWN: return .shutdown
        case KVM_EXIT_INTR: return .interrupted
        case KVM_EXIT_IRQ_WINDOW_OPEN: return .irqWindowOpen
        case KVM_EXIT_FAIL_ENTRY:
            return .failEntry(
                hardwareReason: run.fail_entry.hardware_entry_failure_reason, cpu: run.fail_entry.cpu)
        case KVM_EXIT_INTERNAL_ERROR:
            let failure = run.internal
            var data = [UInt64]()
            unsafe withUnsafeBytes(of: failure.data) { raw in  // SAFETY: data is 16 UInt64s; ndata is clamped to that.
                for index in 0..<min(Int(failure.ndata), 16) {
                    unsafe data.append(raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
                }
            }
            return .internalError(suberror: failure.suberror, data: data)
        case KVM_EXIT_DEBUG:
            let debug = run.debug.arch
            return .debug(exception: debug.exception, pc: debug.pc, dr6: debug.dr6, dr7: debug.dr7)
        case KVM_EXIT_SYSTEM_EVENT:
            let event = run.system_event
            var data = [UInt64]()
            unsafe withUnsafeBytes(of: event.data) { raw in  // SAFETY: data is 16 UInt64s; ndata is clamped to that.
                for index in 0..<min(Int(event.ndata), 16) {
                    unsafe data.append(raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
                }
            }
            return .systemEvent(type: event.type, data: data)
        case KVM_EXIT_UNKNOWN: return .unknown(hardwareReason: run.hw.hardware_exit_reason)
        default: return .other(reason: run.exit_reason)
        }
    }

    /// A handle another thread uses to stop this vCPU's ``run()``.
    ///
    /// Call it on the thread that will call ``run()``: it records that thread and unblocks
    /// `signal` there (threads inherit blocked signals from their creator, and a blocked
    /// kick never interrupts `KVM_RUN`). `signal` must have its empty handler installed
    /// (``KickSignal/installEmptyHandler()``).
    public func kicker(signal: KickSignal) throws(KVMError) -> VcpuKicker {
        do {
            try signal.unblock()
        } catch {
            throw KVMError(error.call, .system(error.errno))
        }
        return VcpuKicker(vcpu: self, signal: signal, thread: pthread_self())
    }

    // MARK: Registers

    /// `KVM_GET_REGS`.
    public func registers() throws(KVMError) -> kvm_regs { try get(KVMB_GET_REGS, "KVM_GET_REGS", kvm_regs()) }
    /// `KVM_SET_REGS`.
    public func setRegisters(_ value: kvm_regs) throws(KVMError) { try set(KVMB_SET_REGS, "KVM_SET_REGS", value) }
    /// `KVM_GET_SREGS`: segments, descriptor tables, control registers, EFER.
    public func specialRegisters() throws(KVMError) -> kvm_sregs {
        try get(KVMB_GET_SREGS, "KVM_GET_SREGS", kvm_sregs())
    }
    /// `KVM_SET_SREGS`.
    public func setSpecialRegisters(_ value: kvm_sregs) throws(KVMError) {
        try set(KVMB_SET_SREGS, "KVM_SET_SREGS", value)
    }
    /// `KVM_GET_FPU`: x87/SSE state.
    public func fpu() throws(KVMError) -> kvm_fpu { try get(KVMB_GET_FPU, "KVM_GET_FPU", kvm_fpu()) }
    /// `KVM_SET_FPU`.
    public func setFPU(_ value: kvm_fpu) throws(KVMError) { try set(KVMB_SET_FPU, "KVM_SET_FPU", value) }
    /// `KVM_GET_LAPIC`: the local APIC's 1 KiB register page (needs the in-kernel irqchip).
    public func lapic() throws(KVMError) -> kvm_lapic_state {
        try get(KVMB_GET_LAPIC, "KVM_GET_LAPIC", kvm_lapic_state())
    }
    /// `KVM_SET_LAPIC`.
    public func setLAPIC(_ value: kvm_lapic_state) throws(KVMError) {
        try set(KVMB_SET_LAPIC, "KVM_SET_LAPIC", value)
    }
    /// `KVM_GET_MP_STATE`: runnable, halted, waiting for INIT/SIPI ... (`KVM_MP_STATE_*`).
    public func mpState() throws(KVMError) -> UInt32 {
        try get(KVMB_GET_MP_STATE, "KVM_GET_MP_STATE", kvm_mp_state()).mp_state
    }
    /// `KVM_SET_MP_STATE`.
    public func setMPState(_ state: UInt32) throws(KVMError) {
        try set(KVMB_SET_MP_STATE, "KVM_SET_MP_STATE", kvm_mp_state(mp_state: state))
    }
    /// `KVM_GET_VCPU_EVENTS`: pending exceptions, interrupts, NMIs, SMM state.
    public func vcpuEvents() throws(KVMError) -> kvm_vcpu_events {
        try get(KVMB_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS", kvm_vcpu_events())
    }
    /// `KVM_SET_VCPU_EVENTS`.
    public func setVCPUEvents(_ value: kvm_vcpu_events) throws(KVMError) {
        try set(KVMB_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS", value)
    }
    /// `KVM_GET_XSAVE`: the legacy 4 KiB XSAVE area.
    public func xsave() throws(KVMError) -> kvm_xsave {
        try require(.xsave, "KVM_GET_XSAVE")
        return try get(KVMB_GET_XSAVE, "KVM_GET_XSAVE", kvm_xsave())
    }
    /// `KVM_SET_XSAVE`.
    public func setXsave(_ value: kvm_xsave) throws(KVMError) {
        try require(.xsave, "KVM_SET_XSAVE")
        try set(KVMB_SET_XSAVE, "KVM_SET_XSAVE", value)
    }
    /// `KVM_GET_XCRS`: extended control registers (XCR0).
    public func xcrs() throws(KVMError) -> kvm_xcrs {
        try require(.xcrs, "KVM_GET_XCRS")
        return try get(KVMB_GET_XCRS, "KVM_GET_XCRS", kvm_xcrs())
    }
    /// `KVM_SET_XCRS`.
    public func setXcrs(_ value: kvm_xcrs) throws(KVMError) {
        try require(.xcrs, "KVM_SET_XCRS")
        try set(KVMB_SET_XCRS, "KVM_SET_XCRS", value)
    }
    /// `KVM_GET_DEBUGREGS`: DR0-3, DR6, DR7.
    public func debugRegisters() throws(KVMError) -> kvm_debugregs {
        try require(.debugRegisters, "KVM_GET_DEBUGREGS")
        return try get(KVMB_GET_DEBUGREGS, "KVM_GET_DEBUGREGS", kvm_debugregs())
    }
    /// `KVM_SET_DEBUGREGS`.
    public func setDebugRegisters(_ value: kvm_debugregs) throws(KVMError) {
        try require(.debugRegisters, "KVM_SET_DEBUGREGS")
        try set(KVMB_SET_DEBUGREGS, "KVM_SET_DEBUGREGS", value)
    }
    /// `KVM_SET_GUEST_DEBUG`: single-stepping and hardware breakpoints (`KVM_GUESTDBG_*` in `control`).
    public func setGuestDebug(_ value: kvm_guest_debug) throws(KVMError) {
        try require(.setGuestDebug, "KVM_SET_GUEST_DEBUG")
        try set(KVMB_SET_GUEST_DEBUG, "KVM_SET_GUEST_DEBUG", value)
    }

    // MARK: MSRs and CPUID

    /// `KVM_GET_MSRS` for `indices`; MSRs KVM does not know are left out of the result.
    public func msrs(_ indices: [UInt32]) throws(KVMError) -> [MSREntry] {
        try withMSRs(indices.map { MSREntry(index: $0, data: 0) }, KVMB_GET_MSRS, "KVM_GET_MSRS")
    }

    /// `KVM_SET_MSRS`; throws `EINVAL` naming the first MSR KVM refused.
    public func setMSRs(_ entries: [MSREntry]) throws(KVMError) {
        let done = try withMSRs(entries, KVMB_SET_MSRS, "KVM_SET_MSRS")
        if done.count < entries.count {
            let refused = String(entries[done.count].index, radix: 16)
            throw KVMError("KVM_SET_MSRS", .invalidArgument("MSR 0x\(refused) refused"))
        }
    }

    /// Runs GET/SET_MSRS; returns the entries KVM processed (it stops at the first failure).
    private func withMSRs(_ entries: [MSREntry], _ request: UInt, _ name: String) throws(KVMError) -> [MSREntry] {
        let size = kvmb_msrs_size(UInt32(entries.count))
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        // SAFETY: frees the block allocated just above, once, after the last use of `slots` in the return.
        defer { unsafe raw.deallocate() }
        unsafe raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let header = unsafe raw.bindMemory(to: kvm_msrs.self, capacity: 1)  // SAFETY: `size` covers header and entries.
        unsafe header.pointee.nmsrs = UInt32(entries.count)
        let slots = unsafe kvmb_msrs_entries(header)!
        // SAFETY: index < entries.count, and `size` holds that many kvm_msr_entry slots after the header.
        for (index, entry) in entries.enumerated() {
            unsafe slots[index].index = entry.index
            unsafe slots[index].data = entry.data
        }
        // SAFETY: raw is a kvm_msrs (the struct GET/SET_MSRS encode) plus the nmsrs entries it declares; KVM returns
        // how many it processed, and the read-back below is clamped to entries.count, the slots allocated.
        let processed = unsafe Int(try IOCtl.call(descriptor.rawValue, request, pointer: raw, name))
        return (0..<min(processed, entries.count)).map { unsafe MSREntry(index: slots[$0].index, data: slots[$0].data) }
    }

    /// `KVM_SET_CPUID2`: the CPUID leaves the guest sees.
    public func setCPUID2(_ cpuid: CPUID) throws(KVMError) {
        let fd = descriptor.rawValue
        // SAFETY: withKVMCPUID2 hands over a kvm_cpuid2 (the struct KVM_SET_CPUID2 encodes) followed by the nent
        // entries it declares, allocated until the closure returns.
        _ = try unsafe cpuid.withKVMCPUID2 { (raw) throws(KVMError) in
            try unsafe IOCtl.call(fd, KVMB_SET_CPUID2, pointer: raw, "KVM_SET_CPUID2")
        }
    }

    /// `KVM_GET_CPUID2`: the leaves last set on this vCPU.
    public func cpuid2(maxEntries: Int = CPUID.maximumEntries) throws(KVMError) -> CPUID {
        try CPUID.fetch(descriptor.rawValue, KVMB_GET_CPUID2, "KVM_GET_CPUID2", maxEntries)
    }

    // MARK: Interrupts

    /// `KVM_INTERRUPT`: queues external interrupt `vector` (only without an in-kernel irqchip).
    public func interrupt(vector: UInt32) throws(KVMError) {
        try set(KVMB_INTERRUPT, "KVM_INTERRUPT", kvm_interrupt(irq: vector))
    }

    /// `KVM_NMI`: queues an NMI.
    public func nmi() throws(KVMError) { _ = try IOCtl.call(descriptor.rawValue, KVMB_NMI, "KVM_NMI") }

    // MARK: Helpers

    private func get<T>(_ request: UInt, _ name: String, _ initial: T) throws(KVMError) -> T {
        var value = initial
        try IOCtl.call(descriptor.rawValue, request, &value, name)
        return value
    }

    private func set<T>(_ request: UInt, _ name: String, _ value: T) throws(KVMError) {
        var value = value
        try IOCtl.call(descriptor.rawValue, request, &value, name)
    }

    private func require(_ capability: Capability, _ name: String) throws(KVMError) {
        if ioctl(descriptor.rawValue, KVMB_CHECK_EXTENSION, capability.rawValue) <= 0 {
            // Older kernels answer KVM_CHECK_EXTENSION only on /dev/kvm and VM descriptors;
            // then let the ioctl itself report.
            if Errno.current == .notATerminal || Errno.current == .invalidArgument { return }
            throw KVMError(name, .missingCapability(capability))
        }
    }
}

/// Stops a vCPU's ``VCPU/run()`` from another thread: sets `immediate_exit`, then sends
/// the kick signal, so the vCPU leaves `KVM_RUN` whether it was inside it or about to enter.
///
/// ```swift
/// let kick = try KickSignal(offset: 0)
/// try kick.installEmptyHandler()
/// // on the vCPU thread:
/// let kicker = try vcpu.kicker(signal: kick)
/// // on any thread:
/// try kicker.kick()   // run() returns .interrupted
/// ```
public struct VcpuKicker: Sendable {
    let vcpu: VCPU
    let signal: KickSignal
    let thread: pthread_t

    /// Sets `immediate_exit` and signals the vCPU thread.
    public func kick() throws(KVMError) {
        // A plain byte store: KVM reads the flag on entry; the signal covers a vCPU already inside.
        // SAFETY: `vcpu` is a strong reference, so its kvm_run mapping (unmapped only in deinit) is live; a one-byte
        // store to the field KVM polls on entry.
        unsafe vcpu.runArea.pointee.immediate_exit = 1
        do {
            try signal.send(to: thread)
        } catch {
            throw KVMError(error.call, .system(error.errno))
        }
    }
}
