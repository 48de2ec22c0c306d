// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A pin on a legacy interrupt controller (PIC/IOAPIC on x86, GIC SPI on arm64).
///
/// ```swift
/// let com1 = LegacyInterruptLine(pin: 4)
/// ```
public struct LegacyInterruptLine: Sendable, Equatable, Hashable {
    /// Which interrupt controller (0 for the only one on most machines).
    public var controller: UInt32
    /// The pin (GSI) on that controller.
    public var pin: UInt32

    /// Creates a line description.
    public init(controller: UInt32 = 0, pin: UInt32) {
        self.controller = controller
        self.pin = pin
    }
}

/// A message-signalled interrupt as a device's MSI/MSI-X capability holds it.
///
/// ```swift
/// let vector = MSIMessage(address: 0xfee0_0000, data: 0x4041)
/// ```
public struct MSIMessage: Sendable, Equatable, Hashable {
    /// The address the device writes to (64-bit; high half zero for 32-bit MSI).
    public var address: UInt64
    /// The value the device writes.
    public var data: UInt32
    /// The requester ID, for interrupt controllers that need it (GICv3 ITS).
    public var deviceID: UInt32?

    /// Creates a message.
    public init(address: UInt64, data: UInt32, deviceID: UInt32? = nil) {
        self.address = address
        self.data = data
        self.deviceID = deviceID
    }

    /// Low 32 bits of the address, as in the capability's Message Address register.
    public var addressLow: UInt32 { UInt32(truncatingIfNeeded: address) }
    /// High 32 bits of the address (Message Upper Address).
    public var addressHigh: UInt32 { UInt32(truncatingIfNeeded: address >> 32) }
}

/// Where one interrupt of a group is routed.
///
/// ```swift
/// let route = InterruptRoute.legacy(LegacyInterruptLine(pin: 4))
/// ```
public enum InterruptRoute: Sendable, Equatable, Hashable {
    /// A legacy controller pin.
    case legacy(LegacyInterruptLine)
    /// A message-signalled interrupt.
    case msi(MSIMessage)
}

/// Why an interrupt operation was refused.
///
/// ```swift
/// do { try group.trigger(index: 9) } catch .indexOutOfRange(let index, let count) { ... }
/// ```
public enum InterruptError: Error, Equatable {
    /// The index is not in the group (a guest programming a vector that does not exist).
    case indexOutOfRange(index: Int, count: Int)
    /// The group is disabled.
    case disabled
    /// The route kind is not supported by this group (an MSI route on a legacy group).
    case unsupportedRoute
    /// The backend failed (for KVM: an errno from irqfd or GSI routing).
    case backend(code: Int32)
}

/// A group of interrupts a device raises by index (one legacy line, or the
/// vectors of an MSI/MSI-X capability), implemented by the VMM over its
/// hypervisor (KVM irqfd and GSI routing, or an emulated controller).
///
/// Class-bound, so devices hold `any InterruptSourceGroup` in Embedded Swift and
/// several threads can share one group; implementations must be thread-safe.
///
/// ```swift
/// try group.enable()
/// try group.update(index: 0, route: .msi(MSIMessage(address: 0xfee0_0000, data: 0x41)), masked: false)
/// try group.trigger(index: 0)
/// ```
public protocol InterruptSourceGroup: AnyObject, Sendable {
    /// Number of interrupts in the group.
    var count: Int { get }
    /// Starts delivering interrupts (allocate routes, register irqfds).
    func enable() throws(InterruptError)
    /// Stops delivering interrupts and releases what ``enable()`` took.
    func disable() throws(InterruptError)
    /// Changes where interrupt `index` goes and whether it is masked.
    func update(index: Int, route: InterruptRoute, masked: Bool) throws(InterruptError)
    /// Injects interrupt `index` (dropped while masked, as MSI-X pending bits are).
    func trigger(index: Int) throws(InterruptError)
}

/// An interrupt group whose interrupts are file descriptors (eventfds) that a producer
/// outside the VMM may signal directly: a vhost-user back-end writes the call eventfd it
/// was given and the interrupt reaches the guest without a trip through the VMM.
///
/// Signals written this way bypass ``InterruptSourceGroup/trigger(index:)``; while an
/// interrupt is masked or the group disabled they stay pending in the descriptor.
///
/// ```swift
/// if let direct = group as? any EventInterruptSourceGroup, let call = direct.eventDescriptor(index: 0) {
///     try frontend.setVringDescriptor(.setVringCall, 0, descriptor: call)
/// }
/// ```
public protocol EventInterruptSourceGroup: InterruptSourceGroup {
    /// The descriptor behind interrupt `index` (nil outside the group). It lives as long as
    /// the group; callers share it (send it to another process), never close it.
    func eventDescriptor(index: Int) -> Int32?
}
