// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// The VMM's side of guest I/O: port-I/O and MMIO accesses the hypervisor could not
/// complete itself. Given at vCPU creation, so the run loop stays hypervisor neutral.
///
/// Values are little-endian integers of `size` bytes (1, 2, 4 or 8). A string
/// instruction (`rep outsb`) arrives as one call per element.
///
/// ```swift
/// final class Bus: VMOperations {
///     func pioRead(port: UInt16, size: Int) -> UInt64 { port == 0x3FD ? 0x60 : 0xFF }
///     func pioWrite(port: UInt16, size: Int, value: UInt64) { if port == 0x3F8 { print(value) } }
///     func mmioRead(address: UInt64, size: Int) -> UInt64 { 0 }
///     func mmioWrite(address: UInt64, size: Int, value: UInt64) {}
/// }
/// ```
public protocol VMOperations: AnyObject, Sendable {
    /// The guest reads `size` bytes from `port`; return the value.
    func pioRead(port: UInt16, size: Int) -> UInt64
    /// The guest writes `value` (`size` bytes) to `port`.
    func pioWrite(port: UInt16, size: Int, value: UInt64)
    /// The guest reads `size` bytes at guest-physical `address`; return the value.
    func mmioRead(address: UInt64, size: Int) -> UInt64
    /// The guest writes `value` (`size` bytes) at guest-physical `address`.
    func mmioWrite(address: UInt64, size: Int, value: UInt64)
}

/// Why ``VirtualCPU/run()`` returned, independent of the hypervisor.
///
/// ```swift
/// while true {
///     switch try cpu.run() {
///     case .ioHandled: continue
///     case .halt, .shutdown: return
///     case let exit: print("stopped:", exit)
///     }
/// }
/// ```
public enum VMExit: Hashable, Sendable {
    /// A port-I/O or MMIO access was delivered to the VM operations; run again.
    case ioHandled
    /// The guest halted (and the hypervisor does not wait for interrupts itself).
    case halt
    /// The guest shut down (triple fault or power-off request).
    case shutdown
    /// The guest asked for a reset.
    case reset
    /// A debug event (single step, breakpoint) at `pc`.
    case debug(pc: UInt64)
    /// The hypervisor could not continue: `reason` says why, `code` is hypervisor specific.
    case internalError(reason: String, code: UInt64)
    /// A kick (or signal) interrupted the run.
    case interrupted
    /// An exit this layer does not interpret; `reason` is the hypervisor's code.
    case unhandled(reason: UInt32)
}

/// One exit as observers see it.
///
/// ```swift
/// if case .pioWrite(let port, _, let value) = event { print(port, value) }
/// ```
public enum ExitEvent: Hashable, Sendable {
    /// A port read of `size` bytes.
    case pioRead(port: UInt16, size: Int)
    /// A port write.
    case pioWrite(port: UInt16, size: Int, value: UInt64)
    /// An MMIO read of `size` bytes.
    case mmioRead(address: UInt64, size: Int)
    /// An MMIO write.
    case mmioWrite(address: UInt64, size: Int, value: UInt64)
    /// Any other exit.
    case exit(VMExit)
}

/// What an observer wants done with an I/O access.
///
/// ```swift
/// func willHandle(_ event: ExitEvent, vcpu: UInt32) -> ExitDecision {
///     if case .pioWrite(0xCF9, _, _) = event { return .deny }  // no guest-triggered resets
///     return .proceed
/// }
/// ```
public enum ExitDecision: Hashable, Sendable {
    /// Deliver it to the VM operations.
    case proceed
    /// Drop it: writes vanish, reads return all ones (an empty bus).
    case deny
}

/// A hook called around every vCPU exit: security monitors (which may deny an access),
/// tracers and debuggers. A vCPU with no observers does not pay for the hook.
///
/// ```swift
/// final class Tracer: ExitObserver {
///     func didHandle(_ event: ExitEvent, vcpu: UInt32, readValue: UInt64?) { print(vcpu, event) }
/// }
/// cpu.addObserver(Tracer())
/// ```
public protocol ExitObserver: AnyObject {
    /// Called before an exit is handled; returning ``ExitDecision/deny`` drops an I/O access.
    func willHandle(_ event: ExitEvent, vcpu: UInt32) -> ExitDecision
    /// Called after an exit was handled; `readValue` is what a read returned to the guest.
    func didHandle(_ event: ExitEvent, vcpu: UInt32, readValue: UInt64?)
}

extension ExitObserver {
    /// Default: let every access through.
    public func willHandle(_ event: ExitEvent, vcpu: UInt32) -> ExitDecision { .proceed }
    /// Default: nothing.
    public func didHandle(_ event: ExitEvent, vcpu: UInt32, readValue: UInt64?) {}
}
