// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMIoctls
import VMMSysUtil

/// The KVM backend of ``Hypervisor``.
///
/// ```swift
/// let hypervisor = try KVMHypervisor()
/// print(hypervisor.flavour)  // pvm on the project's machines
/// let vm = try hypervisor.createVirtualMachine()
/// ```
public struct KVMHypervisor: Hypervisor {
    /// The underlying `/dev/kvm` handle, for KVM-specific calls.
    public let kvm: KVM
    /// The host flavour detected at creation.
    public let flavour: HostFlavour

    /// Opens `/dev/kvm` (or `path`).
    public init(path: String = "/dev/kvm") throws(HypervisorError) {
        do {
            kvm = try KVM(path: path)
        } catch {
            throw HypervisorError(error)
        }
        flavour = HostFlavour.detect()
    }

    /// Creates a KVM virtual machine.
    public func createVirtualMachine() throws(HypervisorError) -> KVMVirtualMachine {
        do {
            return KVMVirtualMachine(vm: try kvm.createVM())
        } catch {
            throw HypervisorError(error)
        }
    }
}

/// Runs `body`, converting a ``KVMError`` into a ``HypervisorError``.
@inline(__always)
func kvm<T>(_ body: () throws(KVMError) -> T) throws(HypervisorError) -> T {
    do {
        return try body()
    } catch {
        throw HypervisorError(error)
    }
}

/// A KVM virtual machine behind the ``VirtualMachine`` protocol.
///
/// ```swift
/// let vm = try KVMHypervisor().createVirtualMachine()
/// try vm.vm.createPIT2()  // KVM-specific calls through the raw handle
/// ```
public final class KVMVirtualMachine: VirtualMachine {
    /// The underlying VM handle, for KVM-specific calls.
    public let vm: VM

    /// Wraps a VM handle.
    public init(vm: VM) { self.vm = vm }

    /// `KVM_SET_USER_MEMORY_REGION`.
    public func mapMemory(
        slot: UInt32, guestAddress: UInt64, size: UInt64, hostAddress: UInt64, flags: MemoryMappingFlags
    ) throws(HypervisorError) {
        var kvmFlags: MemoryRegionFlags = []
        if flags.contains(.logDirtyPages) { kvmFlags.insert(.logDirtyPages) }
        if flags.contains(.readOnly) { kvmFlags.insert(.readOnly) }
        let region = MemoryRegion(
            slot: slot, guestAddress: guestAddress, size: size, hostAddress: hostAddress, flags: kvmFlags)
        try kvm { () throws(KVMError) in try vm.setUserMemoryRegion(region) }
    }

    /// Removes the slot.
    public func unmapMemory(slot: UInt32) throws(HypervisorError) {
        try kvm { () throws(KVMError) in try vm.removeMemoryRegion(slot: slot) }
    }

    /// `KVM_GET_DIRTY_LOG`, as page indices.
    public func dirtyPages(slot: UInt32, size: UInt64) throws(HypervisorError) -> [Int] {
        try kvm { () throws(KVMError) in try vm.dirtyLog(slot: slot, size: size).dirtyPages }
    }

    /// `KVM_CREATE_IRQCHIP`.
    public func createInterruptController() throws(HypervisorError) {
        try kvm { () throws(KVMError) in try vm.createIRQChip() }
    }

    /// `KVM_IRQFD`.
    public func registerIRQFd(_ event: borrowing EventFd, gsi: UInt32) throws(HypervisorError) {
        do {
            try vm.registerIRQFd(event, gsi: gsi)
        } catch {
            throw HypervisorError(error)
        }
    }

    /// `KVM_IOEVENTFD`.
    public func registerIOEventFd(
        _ event: borrowing EventFd, address: EventAddress, length: UInt32, datamatch: UInt64?
    ) throws(HypervisorError) {
        let kvmAddress: IOEventAddress
        switch address {
        case .pio(let port): kvmAddress = .pio(UInt64(port))
        case .mmio(let guestAddress): kvmAddress = .mmio(guestAddress)
        }
        do {
            try vm.registerIOEventFd(event, address: kvmAddress, length: length, datamatch: datamatch)
        } catch {
            throw HypervisorError(error)
        }
    }

    /// `KVM_CREATE_VCPU`, with `operations` receiving its I/O exits.
    public func createVirtualCPU(
        id: UInt32, operations: (any VMOperations)?
    ) throws(HypervisorError)
        -> KVMVirtualCPU
    {
        KVMVirtualCPU(vcpu: try kvm { () throws(KVMError) in try vm.createVCPU(id: id) }, operations: operations)
    }
}

/// Stops a ``KVMVirtualCPU`` from another thread.
///
/// ```swift
/// let kicker = try cpu.kicker(signal: kick)
/// try kicker.kick()
/// ```
public struct KVMVirtualCPUKicker: VirtualCPUKicker {
    let kicker: VcpuKicker

    /// Sets `immediate_exit` and signals the vCPU thread.
    public func kick() throws(HypervisorError) {
        try kvm { () throws(KVMError) in try kicker.kick() }
    }
}

/// A KVM vCPU behind the ``VirtualCPU`` protocol: decodes `KVM_RUN` exits, dispatches
/// I/O to the VM operations and calls observers around each exit.
///
/// ```swift
/// let cpu = try vm.createVirtualCPU(id: 0, operations: bus)
/// cpu.addObserver(tracer)
/// let exit = try cpu.runUntilExit()
/// ```
public final class KVMVirtualCPU: VirtualCPU, @unchecked Sendable {
    // @unchecked: like VCPU, driven by one thread at a time; observers change only on that thread.

    /// The underlying vCPU handle, for KVM-specific calls.
    public let vcpu: VCPU
    /// Where port-I/O and MMIO exits go.
    public let operations: (any VMOperations)?
    private var observers: [any ExitObserver] = []

    /// Wraps a vCPU handle.
    public init(vcpu: VCPU, operations: (any VMOperations)?) {
        self.vcpu = vcpu
        self.operations = operations
    }

    /// The vCPU id.
    public var id: UInt32 { vcpu.id }

    /// Adds an observer.
    public func addObserver(_ observer: any ExitObserver) { observers.append(observer) }

    /// Removes an observer (by identity).
    public func removeObserver(_ observer: any ExitObserver) { observers.removeAll { $0 === observer } }

    /// A kicker for this vCPU; call on the thread that runs it.
    public func kicker(signal: KickSignal) throws(HypervisorError) -> KVMVirtualCPUKicker {
        KVMVirtualCPUKicker(kicker: try kvm { () throws(KVMError) in try vcpu.kicker(signal: signal) })
    }

    /// One `KVM_RUN`, with the exit handled.
    public func run() throws(HypervisorError) -> VMExit {
        let exit = try kvm { () throws(KVMError) in try vcpu.run() }
        switch exit {
        case .ioOut(let port, let data):
            for access in 0..<data.count {
                let value = Self.load(data, access)
                dispatch(.pioWrite(port: port, size: data.size, value: value))
            }
            return .ioHandled
        case .ioIn(let port, let data):
            for access in 0..<data.count {
                Self.store(dispatch(.pioRead(port: port, size: data.size)), data, access)
            }
            return .ioHandled
        case .mmioWrite(let address, let data):
            dispatch(.mmioWrite(address: address, size: data.size, value: Self.load(data, 0)))
            return .ioHandled
        case .mmioRead(let address, let data):
            Self.store(dispatch(.mmioRead(address: address, size: data.size)), data, 0)
            return .ioHandled
        default:
            let result = Self.translate(exit)
            if !observers.isEmpty {
                for observer in observers { _ = observer.willHandle(.exit(result), vcpu: id) }
                for observer in observers { observer.didHandle(.exit(result), vcpu: id, readValue: nil) }
            }
            return result
        }
    }

    /// Delivers one access to observers and operations; returns the value a read yields.
    @discardableResult
    private func dispatch(_ event: ExitEvent) -> UInt64 {
        var decision = ExitDecision.proceed
        if !observers.isEmpty {  // no observers: no hook cost beyond this check
            for observer in observers where observer.willHandle(event, vcpu: id) == .deny { decision = .deny }
        }
        var readValue: UInt64? = nil
        switch event {
        case .pioRead(let port, let size):
            readValue =
                decision == .proceed
                ? operations?.pioRead(port: port, size: size) ?? Self.allOnes(size) : Self.allOnes(size)
        case .pioWrite(let port, let size, let value):
            if decision == .proceed { operations?.pioWrite(port: port, size: size, value: value) }
        case .mmioRead(let address, let size):
            readValue =
                decision == .proceed
                ? operations?.mmioRead(address: address, size: size) ?? Self.allOnes(size) : Self.allOnes(size)
        case .mmioWrite(let address, let size, let value):
            if decision == .proceed { operations?.mmioWrite(address: address, size: size, value: value) }
        case .exit:
            break
        }
        if !observers.isEmpty {
            for observer in observers { observer.didHandle(event, vcpu: id, readValue: readValue) }
        }
        return readValue ?? 0
    }

    private static func allOnes(_ size: Int) -> UInt64 { size >= 8 ? UInt64.max : (1 << UInt64(size * 8)) - 1 }

    private static func load(_ data: ExitData, _ access: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<min(data.size, 8) {
            let offset = access * data.size + index
            if offset < data.buffer.count { value |= UInt64(data.buffer[offset]) << (8 * UInt64(index)) }
        }
        return value
    }

    private static func store(_ value: UInt64, _ data: ExitData, _ access: Int) {
        for index in 0..<min(data.size, 8) {
            let offset = access * data.size + index
            if offset < data.buffer.count {
                data.buffer[offset] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))
            }
        }
    }

    private static func translate(_ exit: VcpuExit) -> VMExit {
        switch exit {
        case .hlt: return .halt
        case .shutdown: return .shutdown
        case .interrupted: return .interrupted
        case .debug(_, let pc, _, _): return .debug(pc: pc)
        case .systemEvent(let type, _):
            switch Int32(bitPattern: type) {
            case KVM_SYSTEM_EVENT_RESET: return .reset
            case KVM_SYSTEM_EVENT_SHUTDOWN: return .shutdown
            default: return .internalError(reason: "KVM system event \(type)", code: UInt64(type))
            }
        case .internalError(let suberror, let data):
            return .internalError(
                reason: "KVM internal error, suberror \(suberror)", code: data.first ?? UInt64(suberror))
        case .failEntry(let reason, _):
            return .internalError(reason: "KVM entry failure", code: reason)
        case .unknown(let reason):
            return .internalError(reason: "unknown exit", code: reason)
        case .irqWindowOpen: return .unhandled(reason: UInt32(KVM_EXIT_IRQ_WINDOW_OPEN))
        case .other(let reason): return .unhandled(reason: reason)
        case .ioIn, .ioOut, .mmioRead, .mmioWrite: return .ioHandled  // handled by run()
        }
    }

    /// `KVM_GET_REGS`.
    public func standardRegisters() throws(HypervisorError) -> StandardRegisters {
        let raw = try kvm { () throws(KVMError) in try vcpu.registers() }
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

    /// `KVM_SET_REGS`.
    public func setStandardRegisters(_ regs: StandardRegisters) throws(HypervisorError) {
        let raw = kvm_regs(
            rax: regs.rax, rbx: regs.rbx, rcx: regs.rcx, rdx: regs.rdx, rsi: regs.rsi, rdi: regs.rdi, rsp: regs.rsp,
            rbp: regs.rbp, r8: regs.r8, r9: regs.r9, r10: regs.r10, r11: regs.r11, r12: regs.r12, r13: regs.r13,
            r14: regs.r14, r15: regs.r15, rip: regs.rip, rflags: regs.rflags)
        try kvm { () throws(KVMError) in try vcpu.setRegisters(raw) }
    }

    /// `KVM_GET_SREGS`.
    public func specialRegisters() throws(HypervisorError) -> SpecialRegisters {
        let raw = try kvm { () throws(KVMError) in try vcpu.specialRegisters() }
        return SpecialRegisters(
            cs: Self.segment(raw.cs), ds: Self.segment(raw.ds), es: Self.segment(raw.es), fs: Self.segment(raw.fs),
            gs: Self.segment(raw.gs), ss: Self.segment(raw.ss),
            gdt: DescriptorTable(base: raw.gdt.base, limit: raw.gdt.limit),
            idt: DescriptorTable(base: raw.idt.base, limit: raw.idt.limit), cr0: raw.cr0, cr2: raw.cr2,
            cr3: raw.cr3, cr4: raw.cr4, efer: raw.efer)
    }

    /// `KVM_SET_SREGS` (fields this type does not carry, such as CR8 and the APIC base, are kept).
    public func setSpecialRegisters(_ sregs: SpecialRegisters) throws(HypervisorError) {
        var raw = try kvm { () throws(KVMError) in try vcpu.specialRegisters() }
        raw.cs = Self.segment(sregs.cs)
        raw.ds = Self.segment(sregs.ds)
        raw.es = Self.segment(sregs.es)
        raw.fs = Self.segment(sregs.fs)
        raw.gs = Self.segment(sregs.gs)
        raw.ss = Self.segment(sregs.ss)
        raw.gdt.base = sregs.gdt.base
        raw.gdt.limit = sregs.gdt.limit
        raw.idt.base = sregs.idt.base
        raw.idt.limit = sregs.idt.limit
        raw.cr0 = sregs.cr0
        raw.cr2 = sregs.cr2
        raw.cr3 = sregs.cr3
        raw.cr4 = sregs.cr4
        raw.efer = sregs.efer
        try kvm { () throws(KVMError) in try vcpu.setSpecialRegisters(raw) }
    }

    private static func segment(_ raw: kvm_segment) -> Segment {
        var segment = Segment(
            base: raw.base, limit: raw.limit, selector: raw.selector, type: raw.type, db: raw.db != 0,
            long: raw.l != 0, granularity: raw.g != 0)
        segment.present = raw.present != 0
        segment.dpl = raw.dpl
        segment.codeOrData = raw.s != 0
        return segment
    }

    private static func segment(_ segment: Segment) -> kvm_segment {
        kvm_segment(
            base: segment.base, limit: segment.limit, selector: segment.selector, type: segment.type,
            present: segment.present ? 1 : 0, dpl: segment.dpl, db: segment.db ? 1 : 0, s: segment.codeOrData ? 1 : 0,
            l: segment.long ? 1 : 0, g: segment.granularity ? 1 : 0, avl: 0, unusable: 0, padding: 0)
    }
}
