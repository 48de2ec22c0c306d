// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Synchronization
import VMDevice

/// A device's interrupt: the `InterruptStatus` bits the driver reads and acknowledges,
/// and the line (one interrupt of a VMDevice `InterruptSourceGroup`, for example an
/// irqfd on an IOAPIC pin) that tells the driver to look.
///
/// Thread-safe: devices signal from their I/O thread while vCPU threads read and
/// acknowledge the status through the transport.
///
/// ```swift
/// let group = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 5)])
/// try group.enable()
/// let interrupt = VirtioInterrupt(group: group, index: 0)
/// interrupt.signal(.usedBuffer)
/// ```
public final class VirtioInterrupt: Sendable {
    /// The reasons in `InterruptStatus`.
    public struct Reason: OptionSet, Sendable, Hashable {
        /// The raw bits.
        public let rawValue: UInt32
        /// Creates reasons from raw bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Bit 0: the device used buffers in at least one queue.
        public static let usedBuffer = Reason(rawValue: 1 << 0)
        /// Bit 1: the configuration changed (or the device needs a reset).
        public static let configurationChange = Reason(rawValue: 1 << 1)
    }

    /// The group the line belongs to.
    public let group: any InterruptSourceGroup
    /// Which interrupt of the group (the first, with ``routesQueues``).
    public let index: Int
    /// Whether each queue has an interrupt of its own: a used-buffer signal for queue `q`
    /// fires interrupt `index + q` of the group, and a signal for no particular queue fires
    /// every interrupt of the group. A vhost-user back-end's call eventfds work this way
    /// (one per ring), as do per-queue MSI-X vectors.
    public let routesQueues: Bool
    private let status = Atomic<UInt32>(0)
    /// Bits reported whatever the driver acknowledged (see ``reportAlways(_:)``).
    private let permanent = Atomic<UInt32>(0)
    private let failures = Atomic<Int>(0)

    /// Signals through interrupt `index` of `group`; with `routesQueues`, through one
    /// interrupt per queue, from `index` on.
    ///
    /// ```swift
    /// let perRing = VirtioInterrupt(group: calls, index: 0, routesQueues: true)
    /// perRing.signal(.usedBuffer, queue: 1)  // fires interrupt 1 only
    /// ```
    public init(group: any InterruptSourceGroup, index: Int, routesQueues: Bool = false) {
        self.group = group
        self.index = index
        self.routesQueues = routesQueues
    }

    /// The pending reasons (`InterruptStatus`).
    public var pending: Reason {
        Reason(rawValue: status.load(ordering: .acquiring) | permanent.load(ordering: .acquiring))
    }
    /// How many times the line refused to fire (group disabled or failing).
    public var failedSignals: Int { failures.load(ordering: .relaxed) }

    /// Sets `reason` and fires the line (every queue's, with ``routesQueues``).
    public func signal(_ reason: Reason) {
        status.bitwiseOr(reason.rawValue, ordering: .acquiringAndReleasing)
        if routesQueues {
            for line in index..<max(index, group.count) { fire(line) }
        } else {
            fire(index)
        }
    }

    /// Sets `reason` for queue `queue`'s buffers and fires the line that tells the driver
    /// (queue `queue`'s own with ``routesQueues``, else the device's one line).
    public func signal(_ reason: Reason, queue: Int) {
        guard routesQueues else { return signal(reason) }
        status.bitwiseOr(reason.rawValue, ordering: .acquiringAndReleasing)
        fire(index + queue)
    }

    private func fire(_ line: Int) {
        do { try group.trigger(index: line) } catch { failures.add(1, ordering: .relaxed) }
    }

    /// The driver's `InterruptACK`: clears the acknowledged bits.
    public func acknowledge(_ reason: Reason) {
        status.bitwiseAnd(~reason.rawValue, ordering: .acquiringAndReleasing)
    }

    /// Reports `reason` in ``pending`` from now on, acknowledged or not, until ``clear()``.
    ///
    /// For interrupts raised behind the VMM's back: when a vhost-user back-end writes the
    /// call eventfd that is the irqfd, nothing sets `usedBuffer`, yet the virtio-mmio driver
    /// looks at the used rings only when it reads that bit. Reporting it always costs the
    /// driver a look at rings with nothing new after other interrupts, never a lost one.
    ///
    /// ```swift
    /// interrupt.reportAlways(.usedBuffer)
    /// ```
    public func reportAlways(_ reason: Reason) {
        permanent.bitwiseOr(reason.rawValue, ordering: .acquiringAndReleasing)
    }

    /// Clears every bit, the permanent ones included (device reset).
    public func clear() {
        permanent.store(0, ordering: .releasing)
        status.store(0, ordering: .releasing)
    }
}
