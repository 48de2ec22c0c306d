// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import X86Machine

/// DR0-DR3, DR6 and DR7.
///
/// ```swift
/// var debug = DebugRegisters()
/// debug.addresses[0] = breakpoint
/// debug.dr7 = 1  // local enable, execute, one byte
/// ```
public struct DebugRegisters: Hashable, Sendable, Codable {
    /// DR0-DR3: the four breakpoint addresses.
    public var addresses: [UInt64]
    /// DR6: debug status.
    public var dr6: UInt64
    /// DR7: debug control.
    public var dr7: UInt64

    /// Every breakpoint clear, DR6 and DR7 at their reset values.
    public init(addresses: [UInt64] = [0, 0, 0, 0], dr6: UInt64 = 0xffff_0ff0, dr7: UInt64 = 0x400) {
        self.addresses = addresses
        self.dr6 = dr6
        self.dr7 = dr7
    }
}

/// How a debugger (the VMM's gdb stub) controls a vCPU: with `enabled`, single steps and
/// breakpoints end ``VirtualCPU/run()`` with ``VMExit/debug(pc:)`` instead of reaching the guest.
///
/// ```swift
/// try cpu.setGuestDebug(GuestDebug(enabled: true, singleStep: true))
/// if case .debug(let pc) = try cpu.run() { print("stepped to", pc) }
/// ```
public struct GuestDebug: Hashable, Sendable {
    /// Debugging is on (off: everything below is ignored and the guest's own debugging works).
    public var enabled: Bool
    /// Stop after every instruction.
    public var singleStep: Bool
    /// INT3 in the guest stops the vCPU (software breakpoints the debugger wrote).
    public var softwareBreakpoints: Bool
    /// Hardware breakpoints and watchpoints the debugger owns (DR0-DR3 and DR7); nil: none.
    public var hardwareBreakpoints: DebugRegisters?

    /// A debug setting; by default off.
    public init(
        enabled: Bool = false, singleStep: Bool = false, softwareBreakpoints: Bool = false,
        hardwareBreakpoints: DebugRegisters? = nil
    ) {
        self.enabled = enabled
        self.singleStep = singleStep
        self.softwareBreakpoints = softwareBreakpoints
        self.hardwareBreakpoints = hardwareBreakpoints
    }
}

/// Events in flight on a vCPU: an exception, interrupt or NMI being delivered or pending,
/// the interrupt shadow, the SIPI vector and SMM state. Saved with the registers so that
/// an interrupt accepted but not yet delivered survives a save and restore.
///
/// ```swift
/// let events = try cpu.saveState().events
/// print(events.interruptInjected, events.interruptVector)
/// ```
public struct VCPUEvents: Hashable, Sendable, Codable {
    /// An exception is being delivered.
    public var exceptionInjected = false
    /// An exception is pending (not yet delivered).
    public var exceptionPending = false
    /// Its vector.
    public var exceptionVector: UInt8 = 0
    /// Whether it pushes an error code, and the code.
    public var exceptionErrorCode: UInt32? = nil
    /// The exception's payload (CR2 for a page fault, DR6 bits for #DB), when it has one.
    public var exceptionPayload: UInt64? = nil
    /// An external interrupt is being delivered.
    public var interruptInjected = false
    /// Its vector.
    public var interruptVector: UInt8 = 0
    /// A software interrupt (INT n).
    public var interruptSoft = false
    /// The interrupt shadow (after STI or MOV SS), as the hypervisor encodes it.
    public var interruptShadow: UInt8 = 0
    /// An NMI is being delivered.
    public var nmiInjected = false
    /// An NMI is pending.
    public var nmiPending = false
    /// NMIs are blocked.
    public var nmiMasked = false
    /// The vector of the last startup IPI.
    public var sipiVector: UInt32 = 0
    /// In system management mode.
    public var inSMM = false
    /// An SMI is pending.
    public var smiPending = false
    /// In SMM and an NMI handler at once.
    public var smmInsideNMI = false
    /// An INIT arrived while in SMM (latched).
    public var latchedINIT = false

    /// No event in flight.
    public init() {}
}

/// Where a vCPU is in the multiprocessor start-up protocol.
///
/// ```swift
/// if try cpu.saveState().multiprocessorState == .halted { print("idle") }
/// ```
public enum MultiprocessorState: UInt32, Hashable, Sendable, Codable {
    /// Running (the boot processor, or an application processor after its SIPI).
    case runnable = 0
    /// An application processor waiting for INIT.
    case uninitialized = 1
    /// INIT received, waiting for a SIPI.
    case initReceived = 2
    /// Halted (HLT), waiting for an interrupt.
    case halted = 3
    /// SIPI received.
    case sipiReceived = 4
}

/// Everything about one x86 vCPU a VMM needs to stop it here and run it elsewhere.
///
/// ```swift
/// let saved = try cpu.saveState()
/// try fresh.restoreState(saved)  // a vCPU of a new VM with the same memory
/// ```
public struct VCPUState: Hashable, Sendable, Codable {
    /// The CPUID the guest sees (restored first: it decides which other state is valid).
    public var cpuid: [CPUIDEntry]
    /// General-purpose registers, RIP and RFLAGS.
    public var standard: StandardRegisters
    /// Segments, descriptor tables, control registers, EFER, APIC base.
    public var special: SpecialRegisters
    /// The XSAVE area (x87, SSE, AVX and later components) in the architectural XSAVE layout.
    public var xsave: [UInt8]
    /// XCR0, which components XSAVE covers.
    public var xcr0: UInt64
    /// Every MSR the hypervisor saves for a guest.
    public var msrs: [ModelSpecificRegister]
    /// The local APIC's registers.
    public var localAPIC: LocalAPICState
    /// The debug registers.
    public var debugRegisters: DebugRegisters
    /// Events in flight.
    public var events: VCPUEvents
    /// Where the vCPU is in start-up.
    public var multiprocessorState: MultiprocessorState

    /// A state from its parts.
    public init(
        cpuid: [CPUIDEntry], standard: StandardRegisters, special: SpecialRegisters, xsave: [UInt8], xcr0: UInt64,
        msrs: [ModelSpecificRegister], localAPIC: LocalAPICState, debugRegisters: DebugRegisters, events: VCPUEvents,
        multiprocessorState: MultiprocessorState
    ) {
        self.cpuid = cpuid
        self.standard = standard
        self.special = special
        self.xsave = xsave
        self.xcr0 = xcr0
        self.msrs = msrs
        self.localAPIC = localAPIC
        self.debugRegisters = debugRegisters
        self.events = events
        self.multiprocessorState = multiprocessorState
    }
}

/// One piece of a VM's emulated platform state, in the hypervisor's own encoding, named so
/// that a restore can check it is restoring what it saved (`kvm-pic-master`, `kvm-ioapic`,
/// `kvm-pit` ...). Restored only into a VM of the same hypervisor.
///
/// ```swift
/// for part in try vm.saveState().platform { print(part.name, part.bytes.count) }
/// ```
public struct PlatformStatePart: Hashable, Sendable, Codable {
    /// What it is.
    public var name: String
    /// The hypervisor's encoding of it.
    public var bytes: [UInt8]

    /// A part named `name`.
    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}

/// A VM's state outside its vCPUs and memory: the emulated interrupt controllers and
/// timer, and the guest clock.
///
/// ```swift
/// let saved = try vm.saveState()
/// try freshVM.restoreState(saved)
/// ```
public struct VMState: Hashable, Sendable, Codable {
    /// Interrupt controllers and timer, as the hypervisor emulates them.
    public var platform: [PlatformStatePart]
    /// The guest clock (kvmclock's base), in nanoseconds.
    public var clockNanoseconds: UInt64

    /// A state from its parts.
    public init(platform: [PlatformStatePart], clockNanoseconds: UInt64) {
        self.platform = platform
        self.clockNanoseconds = clockNanoseconds
    }
}
