// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// How an interrupt line reports its state to the interrupt controller.
public enum TriggerMode: Sendable, Equatable {
    /// The controller latches a rising edge; lowering the line is meaningless
    /// (an irqfd wired to an edge-triggered IOAPIC pin, an MSI).
    case edge
    /// The controller sees the line's level until it is lowered again
    /// (a level-triggered pin with a resample fd, an emulated PIC input).
    case level
}

/// The interrupt output of a device model, implemented by the VMM.
///
/// Devices call ``raise()`` when their interrupt output goes from inactive to
/// active and ``lower()`` when it goes back, and only on those transitions, so
/// an edge-triggered implementation (for example an eventfd registered as a KVM
/// irqfd) turns each ``raise()`` into exactly one injected interrupt. Failures
/// (a full eventfd counter) are the implementation's to record: a guest must not
/// be able to stop a device by provoking them.
///
/// ```swift
/// struct IrqFdTrigger: InterruptTrigger {
///     let eventFd: Int32
///     var mode: TriggerMode { .edge }
///     func raise() { /* write 1 to eventFd */ }
///     func lower() {}
/// }
/// ```
public protocol InterruptTrigger {
    /// Whether the line is edge or level triggered; devices behave the same
    /// either way, the mode documents what ``lower()`` does.
    var mode: TriggerMode { get }
    /// The device's interrupt output became active.
    func raise()
    /// The device's interrupt output became inactive (a no-op for edge lines).
    func lower()
}
