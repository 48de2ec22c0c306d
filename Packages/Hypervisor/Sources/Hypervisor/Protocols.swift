// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMDevice
import VMMSysUtil
import X86Machine

/// A hypervisor a VMM can run guests on: KVM today, others later.
///
/// VMM code written against these protocols (with generic parameters or `some`)
/// does not depend on one hypervisor's exit layout or ioctl set.
///
/// ```swift
/// func boot(on hypervisor: some Hypervisor, devices: some VMOperations) throws(HypervisorError) {
///     let vm = try hypervisor.createVirtualMachine()
///     let cpu = try vm.createVirtualCPU(id: 0, operations: devices)
///     while try cpu.run() != .halt {}
/// }
/// ```
public protocol Hypervisor: Sendable {
    /// The virtual machines this hypervisor makes.
    associatedtype Machine: VirtualMachine

    /// The host's virtualization flavour (VMX, SVM, PVM ...).
    var flavour: HostFlavour { get }

    /// Creates an empty virtual machine (no memory, no vCPUs).
    func createVirtualMachine() throws(HypervisorError) -> Machine

    /// The CPUID leaves this hypervisor can give a vCPU, as it would report them; a VMM
    /// filters them (X86Machine's `CPUIDPolicy`) and sets the result on each vCPU.
    func supportedCPUID() throws(HypervisorError) -> [CPUIDEntry]
}

/// How guest memory in one slot behaves.
///
/// ```swift
/// try vm.mapMemory(slot: 0, guestAddress: 0, size: size, hostAddress: host, flags: .logDirtyPages)
/// ```
public struct MemoryMappingFlags: OptionSet, Hashable, Sendable {
    /// The raw bits.
    public let rawValue: UInt32
    /// Wraps raw bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Guest writes are recorded for ``VirtualMachine/dirtyPages(slot:size:)``.
    public static let logDirtyPages = MemoryMappingFlags(rawValue: 1 << 0)
    /// Guest writes are not stored but delivered as MMIO writes.
    public static let readOnly = MemoryMappingFlags(rawValue: 1 << 1)
}

/// Where an ioeventfd listens.
///
/// ```swift
/// try vm.registerIOEventFd(event, address: .pio(0x100), length: 1, datamatch: 0x42)
/// ```
public enum EventAddress: Hashable, Sendable {
    /// A port-I/O address.
    case pio(UInt16)
    /// A guest-physical MMIO address.
    case mmio(UInt64)
}

/// A virtual machine: guest memory, interrupt wiring and vCPU creation.
///
/// ```swift
/// let vm = try hypervisor.createVirtualMachine()
/// try vm.mapMemory(slot: 0, guestAddress: 0, size: size, hostAddress: host, flags: [])
/// let cpu = try vm.createVirtualCPU(id: 0, operations: bus)
/// ```
public protocol VirtualMachine: AnyObject, Sendable {
    /// The vCPUs this machine makes.
    associatedtype CPU: VirtualCPU

    /// Maps `size` bytes of host memory at `hostAddress` to guest-physical `guestAddress`.
    func mapMemory(
        slot: UInt32, guestAddress: UInt64, size: UInt64, hostAddress: UInt64, flags: MemoryMappingFlags)
        throws(HypervisorError)

    /// Removes the mapping in `slot`.
    func unmapMemory(slot: UInt32) throws(HypervisorError)

    /// Indices of the 4 KiB pages of `slot` written since the last call (needs ``MemoryMappingFlags/logDirtyPages``).
    func dirtyPages(slot: UInt32, size: UInt64) throws(HypervisorError) -> [Int]

    /// Creates the hypervisor's interrupt controller emulation (before any vCPU).
    func createInterruptController() throws(HypervisorError)

    /// A write to `event` asserts interrupt line `gsi`.
    func registerIRQFd(_ event: borrowing EventFd, gsi: UInt32) throws(HypervisorError)

    /// A guest write to `address` (equal to `datamatch` when given) signals `event` without a vCPU exit.
    func registerIOEventFd(
        _ event: borrowing EventFd, address: EventAddress, length: UInt32, datamatch: UInt64?)
        throws(HypervisorError)

    /// Creates vCPU `id`; its port-I/O and MMIO exits go to `operations` (nil: an empty bus).
    func createVirtualCPU(id: UInt32, operations: (any VMOperations)?) throws(HypervisorError) -> CPU

    /// Places the pages an x86 hypervisor keeps for itself in guest-physical space (VMX's
    /// identity map and TSS, three pages from `tss`) before any vCPU runs. A hypervisor
    /// that needs none ignores the call.
    func reserveSystemPages(identityMap: UInt64, tss: UInt64) throws(HypervisorError)

    /// Creates the hypervisor's PIT (8254) emulation, after the interrupt controller.
    func createTimer() throws(HypervisorError)

    /// The emulated platform's state (interrupt controllers, timer) and the guest clock.
    /// Save with every vCPU stopped.
    func saveState() throws(HypervisorError) -> VMState
    /// Restores a state ``saveState()`` returned (after creating the same interrupt
    /// controller and timer, before the vCPUs run); a part this VM does not have is refused.
    func restoreState(_ state: VMState) throws(HypervisorError)

    /// An interrupt group raising each of `lines` (legacy interrupt controller pins) through
    /// an event the device side can write; disabled until `enable()`.
    func createLegacyInterruptGroup(
        lines: [LegacyInterruptLine]
    ) throws(HypervisorError)
        -> any EventInterruptSourceGroup
}

/// Stops a running vCPU from another thread.
///
/// ```swift
/// let kicker = try cpu.kicker(signal: kick)  // on the vCPU thread
/// try kicker.kick()                          // from any thread
/// ```
public protocol VirtualCPUKicker: Sendable {
    /// Makes the vCPU's current or next ``VirtualCPU/run()`` return ``VMExit/interrupted``.
    func kick() throws(HypervisorError)
}

/// A virtual CPU. Driven by one thread at a time (it may be handed to that thread, hence
/// `Sendable`); other threads stop it through its kicker.
///
/// ```swift
/// try cpu.setStandardRegisters(StandardRegisters(rip: 0x1000, rflags: 2))
/// switch try cpu.runUntilExit() {
/// case .halt: print("guest halted")
/// case let exit: print("stopped:", exit)
/// }
/// ```
public protocol VirtualCPU: AnyObject, Sendable {
    /// The kicker type this vCPU hands out.
    associatedtype Kicker: VirtualCPUKicker

    /// The vCPU id.
    var id: UInt32 { get }

    /// Runs the guest until one exit has been handled; port I/O and MMIO go to the
    /// VM operations and come back as ``VMExit/ioHandled``.
    func run() throws(HypervisorError) -> VMExit

    /// General-purpose registers, RIP and RFLAGS.
    func standardRegisters() throws(HypervisorError) -> StandardRegisters
    /// Sets general-purpose registers, RIP and RFLAGS.
    func setStandardRegisters(_ registers: StandardRegisters) throws(HypervisorError)
    /// Segments, descriptor tables, control registers and EFER.
    func specialRegisters() throws(HypervisorError) -> SpecialRegisters
    /// Sets segments, descriptor tables, control registers and EFER.
    func setSpecialRegisters(_ registers: SpecialRegisters) throws(HypervisorError)
    /// The CPUID leaves the guest sees.
    func cpuid() throws(HypervisorError) -> [CPUIDEntry]
    /// Sets the CPUID leaves the guest sees (before the vCPU first runs).
    func setCPUID(_ entries: [CPUIDEntry]) throws(HypervisorError)
    /// The values of the MSRs `indices` names, in order; an MSR the hypervisor refuses to
    /// read is an error naming it.
    func msrs(_ indices: [UInt32]) throws(HypervisorError) -> [ModelSpecificRegister]
    /// Sets MSRs; one the hypervisor refuses is an error naming it.
    func setMSRs(_ registers: [ModelSpecificRegister]) throws(HypervisorError)
    /// The x87/SSE state.
    func fpu() throws(HypervisorError) -> FPUState
    /// Sets the x87/SSE state.
    func setFPU(_ state: FPUState) throws(HypervisorError)
    /// Hands the vCPU to a debugger (single steps, breakpoints) or back to the guest.
    func setGuestDebug(_ debug: GuestDebug) throws(HypervisorError)
    /// Everything about this vCPU (call from the thread that runs it, while it is stopped).
    func saveState() throws(HypervisorError) -> VCPUState
    /// Restores a state ``saveState()`` returned, into a vCPU not yet run.
    func restoreState(_ state: VCPUState) throws(HypervisorError)
    /// The local APIC's register page.
    func localAPIC() throws(HypervisorError) -> LocalAPICState
    /// Sets the local APIC's register page.
    func setLocalAPIC(_ state: LocalAPICState) throws(HypervisorError)

    /// Adds an observer called before and after every exit (security monitors, tracers, debuggers).
    func addObserver(_ observer: any ExitObserver)
    /// Removes an observer added earlier (compared by identity).
    func removeObserver(_ observer: any ExitObserver)

    /// Call on the thread that runs this vCPU: returns a kicker other threads can use.
    func kicker(signal: KickSignal) throws(HypervisorError) -> Kicker
}

extension VirtualCPU {
    /// Runs until an exit other than handled I/O: halt, shutdown, reset, debug, error or a kick.
    public func runUntilExit() throws(HypervisorError) -> VMExit {
        while true {
            let exit = try run()
            if exit != .ioHandled { return exit }
        }
    }
}
