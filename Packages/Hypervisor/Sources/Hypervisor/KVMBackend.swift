// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMIoctls
import VMDevice
import VMMSysUtil
import X86Machine

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
            // The MSRs a guest's state includes: what KVM lists for saving and restoring.
            return KVMVirtualMachine(vm: try kvm.createVM(), savedMSRs: (try? kvm.msrIndexList()) ?? [])
        } catch {
            throw HypervisorError(error)
        }
    }

    /// `KVM_GET_SUPPORTED_CPUID`.
    public func supportedCPUID() throws(HypervisorError) -> [CPUIDEntry] {
        do {
            return try kvm.supportedCPUID().entries.map(KVMState.entry)
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
    /// The MSRs ``KVMVirtualCPU/saveState()`` saves (KVM_GET_MSR_INDEX_LIST).
    public let savedMSRs: [UInt32]

    /// Wraps a VM handle; its vCPUs save `savedMSRs` with their state.
    public init(vm: VM, savedMSRs: [UInt32] = []) {
        self.vm = vm
        self.savedMSRs = savedMSRs
    }

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
        KVMVirtualCPU(
            vcpu: try kvm { () throws(KVMError) in try vm.createVCPU(id: id) }, operations: operations,
            savedMSRs: savedMSRs)
    }

    /// `KVM_SET_IDENTITY_MAP_ADDR` and `KVM_SET_TSS_ADDR` (VMX uses the pages; PVM and SVM
    /// accept and ignore them).
    public func reserveSystemPages(identityMap: UInt64, tss: UInt64) throws(HypervisorError) {
        // Both are attempted; the first refusal is reported.
        let identity = Result { () throws(KVMError) in try vm.setIdentityMapAddress(identityMap) }
        try kvm { () throws(KVMError) in try vm.setTSSAddress(tss) }
        try kvm { () throws(KVMError) in try identity.get() }
    }

    /// `KVM_CREATE_PIT2`.
    public func createTimer() throws(HypervisorError) {
        try kvm { () throws(KVMError) in try vm.createPIT2() }
    }

    /// The PICs and IOAPIC (when the irqchip exists), the PIT (when it exists) and the clock.
    public func saveState() throws(HypervisorError) -> VMState {
        var platform: [PlatformStatePart] = []
        for (name, chip) in KVMState.chips {
            // A VM without the in-kernel irqchip has none of the three; any other failure is one.
            guard let state = try absentIfNotCreated({ () throws(KVMError) in try vm.irqChip(chip) }) else { continue }
            platform.append(PlatformStatePart(name: name, bytes: KVMState.bytes(of: state)))
        }
        if let pit = try absentIfNotCreated({ () throws(KVMError) in try vm.pit2() }) {
            platform.append(PlatformStatePart(name: KVMState.pitName, bytes: KVMState.bytes(of: pit)))
        }
        let clock = try kvm { () throws(KVMError) in try vm.clock() }
        return VMState(platform: platform, clockNanoseconds: clock.clock)
    }

    /// Runs `body`; KVM's `ENXIO` (the device was never created) is nil, any other error is thrown.
    private func absentIfNotCreated<T>(_ body: () throws(KVMError) -> T) throws(HypervisorError) -> T? {
        do {
            return try body()
        } catch {
            if case .system(let errno) = error.reason, errno.rawValue == ENXIO { return nil }
            throw HypervisorError(error)
        }
    }

    /// Restores every part ``saveState()`` saved; an unknown or mis-sized part is refused.
    public func restoreState(_ state: VMState) throws(HypervisorError) {
        for part in state.platform {
            if let chip = KVMState.chips.first(where: { $0.name == part.name })?.chip {
                var raw = kvm_irqchip()
                try KVMState.load(part, into: &raw)
                raw.chip_id = chip
                try kvm { () throws(KVMError) in try vm.setIRQChip(raw) }
            } else if part.name == KVMState.pitName {
                var raw = kvm_pit_state2()
                try KVMState.load(part, into: &raw)
                try kvm { () throws(KVMError) in try vm.setPIT2(raw) }
            } else {
                throw HypervisorError("restore", .invalidArgument("unknown platform state part '\(part.name)'"))
            }
        }
        var clock = kvm_clock_data()
        clock.clock = state.clockNanoseconds
        try kvm { () throws(KVMError) in try vm.setClock(clock) }
    }

    /// A ``KVMLegacyInterruptGroup``: one irqfd per line.
    public func createLegacyInterruptGroup(
        lines: [LegacyInterruptLine]
    ) throws(HypervisorError)
        -> any EventInterruptSourceGroup
    {
        try KVMLegacyInterruptGroup(vm: self, lines: lines)
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
    /// The MSRs ``saveState()`` saves.
    public let savedMSRs: [UInt32]
    private var observers: [any ExitObserver] = []

    /// Wraps a vCPU handle.
    public init(vcpu: VCPU, operations: (any VMOperations)?, savedMSRs: [UInt32] = []) {
        self.vcpu = vcpu
        self.operations = operations
        self.savedMSRs = savedMSRs
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
            // SAFETY: the vCPU (held by self) keeps the kvm_run mapping; the test bounds the read to buffer.count.
            if unsafe offset < data.buffer.count { unsafe value |= UInt64(data.buffer[offset]) << (8 * UInt64(index)) }
        }
        return value
    }

    private static func store(_ value: UInt64, _ data: ExitData, _ access: Int) {
        for index in 0..<min(data.size, 8) {
            let offset = access * data.size + index
            // SAFETY: the vCPU (held by self) keeps the kvm_run mapping; the test bounds the store to buffer.count.
            if unsafe offset < data.buffer.count {
                unsafe data.buffer[offset] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))
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
        KVMState.standard(try kvm { () throws(KVMError) in try vcpu.registers() })
    }

    /// `KVM_SET_REGS`.
    public func setStandardRegisters(_ regs: StandardRegisters) throws(HypervisorError) {
        try kvm { () throws(KVMError) in try vcpu.setRegisters(KVMState.standard(regs)) }
    }

    /// `KVM_GET_SREGS`.
    public func specialRegisters() throws(HypervisorError) -> SpecialRegisters {
        KVMState.special(try kvm { () throws(KVMError) in try vcpu.specialRegisters() })
    }

    /// `KVM_SET_SREGS` (the pending-interrupt bitmap, which the type does not carry, is kept).
    public func setSpecialRegisters(_ sregs: SpecialRegisters) throws(HypervisorError) {
        var raw = try kvm { () throws(KVMError) in try vcpu.specialRegisters() }
        KVMState.apply(sregs, to: &raw)
        try kvm { () throws(KVMError) in try vcpu.setSpecialRegisters(raw) }
    }

    /// `KVM_GET_CPUID2`.
    public func cpuid() throws(HypervisorError) -> [CPUIDEntry] {
        try kvm { () throws(KVMError) in try vcpu.cpuid2().entries.map(KVMState.entry) }
    }

    /// `KVM_SET_CPUID2`.
    public func setCPUID(_ entries: [CPUIDEntry]) throws(HypervisorError) {
        try kvm { () throws(KVMError) in try vcpu.setCPUID2(CPUID(entries: entries.map(KVMState.entry))) }
    }

    /// `KVM_GET_MSRS`.
    public func msrs(_ indices: [UInt32]) throws(HypervisorError) -> [ModelSpecificRegister] {
        try kvm { () throws(KVMError) in
            try vcpu.msrs(indices).map { ModelSpecificRegister(index: $0.index, value: $0.data) }
        }
    }

    /// `KVM_SET_MSRS`.
    public func setMSRs(_ registers: [ModelSpecificRegister]) throws(HypervisorError) {
        try kvm { () throws(KVMError) in
            try vcpu.setMSRs(registers.map { MSREntry(index: $0.index, data: $0.value) })
        }
    }

    /// `KVM_GET_FPU`.
    public func fpu() throws(HypervisorError) -> FPUState {
        KVMState.fpu(try kvm { () throws(KVMError) in try vcpu.fpu() })
    }

    /// `KVM_SET_FPU`.
    public func setFPU(_ state: FPUState) throws(HypervisorError) {
        try kvm { () throws(KVMError) in try vcpu.setFPU(KVMState.fpu(state)) }
    }

    /// `KVM_SET_GUEST_DEBUG`.
    public func setGuestDebug(_ debug: GuestDebug) throws(HypervisorError) {
        try kvm { () throws(KVMError) in try vcpu.setGuestDebug(KVMState.guestDebug(debug)) }
    }

    /// Every piece of vCPU state KVM keeps, in Firecracker's order (the MP state first, the
    /// events last, after the registers and MSRs they refer to).
    public func saveState() throws(HypervisorError) -> VCPUState {
        try kvm { () throws(KVMError) in
            let mpState = try vcpu.mpState()
            let standard = KVMState.standard(try vcpu.registers())
            let special = KVMState.special(try vcpu.specialRegisters())
            let xsave = KVMState.bytes(of: try vcpu.xsave())
            let xcrs = try vcpu.xcrs()
            let debug = KVMState.debug(try vcpu.debugRegisters())
            let apic = KVMState.localAPIC(try vcpu.lapic())
            let msrs = try vcpu.msrs(savedMSRs).map { ModelSpecificRegister(index: $0.index, value: $0.data) }
            let events = KVMState.events(try vcpu.vcpuEvents())
            let cpuid = try vcpu.cpuid2().entries.map(KVMState.entry)
            guard let multiprocessor = MultiprocessorState(rawValue: mpState) else {
                throw KVMError("KVM_GET_MP_STATE", .invalidArgument("unknown state \(mpState)"))
            }
            return VCPUState(
                cpuid: cpuid, standard: standard, special: special, xsave: xsave, xcr0: KVMState.xcr0(xcrs),
                msrs: msrs, localAPIC: apic, debugRegisters: debug, events: events, multiprocessorState: multiprocessor)
        }
    }

    /// `IA32_TSC_DEADLINE`: KVM ignores a write while the local APIC's timer is not in
    /// TSC-deadline mode, so it is written again once the APIC is restored.
    static let tscDeadlineMSR: UInt32 = 0x6e0

    /// Restores `state`, in Firecracker's order: CPUID, MSRs, registers, XSAVE, XCRs, debug
    /// registers, local APIC, the TSC deadline again (QEMU does the same: before the APIC
    /// is in deadline mode KVM drops it, and an idle tickless guest would never wake), MP
    /// state, events.
    public func restoreState(_ state: VCPUState) throws(HypervisorError) {
        try setCPUID(state.cpuid)
        try setMSRs(state.msrs)
        try setStandardRegisters(state.standard)
        try setSpecialRegisters(state.special)
        try kvm { () throws(KVMError) in
            var xsave = kvm_xsave()
            try KVMState.load(state.xsave, into: &xsave, call: "KVM_SET_XSAVE")
            try vcpu.setXsave(xsave)
            try vcpu.setXcrs(KVMState.xcrs(xcr0: state.xcr0))
            try vcpu.setDebugRegisters(KVMState.debug(state.debugRegisters))
            try vcpu.setLAPIC(KVMState.localAPIC(state.localAPIC))
        }
        if let deadline = state.msrs.first(where: { $0.index == Self.tscDeadlineMSR }) { try setMSRs([deadline]) }
        try kvm { () throws(KVMError) in
            try vcpu.setMPState(state.multiprocessorState.rawValue)
            try vcpu.setVCPUEvents(KVMState.events(state.events))
        }
    }

    /// `KVM_GET_LAPIC`.
    public func localAPIC() throws(HypervisorError) -> LocalAPICState {
        KVMState.localAPIC(try kvm { () throws(KVMError) in try vcpu.lapic() })
    }

    /// `KVM_SET_LAPIC`.
    public func setLocalAPIC(_ state: LocalAPICState) throws(HypervisorError) {
        try kvm { () throws(KVMError) in try vcpu.setLAPIC(KVMState.localAPIC(state)) }
    }
}
