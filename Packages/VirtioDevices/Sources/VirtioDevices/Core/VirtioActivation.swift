// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import VMMSysUtil
import VMMemory
import VirtioQueue

/// The eventfd a queue's notifications arrive on.
///
/// The transport signals it when the driver writes `QueueNotify`; a VMM that can
/// registers it as an ioeventfd on the notify register instead (KVM then signals
/// it without a vCPU exit). Either way the device's I/O thread reads it.
///
/// ```swift
/// for notifier in transport.notifiers {
///     try vm.registerIOEventFd(notifier.event, address: .mmio(base + MmioRegister.queueNotify),
///                              length: 4, datamatch: UInt64(notifier.queueIndex))
/// }
/// ```
public final class QueueNotifier: Sendable {
    /// The queue it belongs to.
    public let queueIndex: Int
    /// The eventfd (non-blocking).
    public let event: EventFd

    /// A notifier for queue `queueIndex`.
    public init(queueIndex: Int) throws(SystemError) {
        self.queueIndex = queueIndex
        event = try EventFd(flags: [.nonBlocking])
    }
}

/// What a device receives when the driver sets `DRIVER_OK`.
///
/// ```swift
/// func activate(_ activation: VirtioActivation<Memory>) throws(VirtioDeviceError) {
///     guard activation.queues[0].ready else { throw .queueNotReady(0) }
///     state.withLock { $0 = .active(activation) }
/// }
/// ```
public struct VirtioActivation<Memory: GuestMemory>: Sendable {
    /// Guest memory.
    public let memory: Memory
    /// The features both sides agreed on.
    public let features: UInt64
    /// The queues as the driver configured them (ready ones are activated).
    public var queues: [Virtqueue]
    /// The device's interrupt.
    public let interrupt: VirtioInterrupt
    /// The I/O thread's event loop, for devices with descriptors of their own (a tap, sockets).
    public let eventLoop: RemoteEndpoint
    /// Marks the device broken (`DEVICE_NEEDS_RESET` plus a configuration interrupt) with a reason.
    public let markBroken: @Sendable (String) -> Void
    /// The queues' notifiers, in queue order (a device that forwards notifications passes
    /// their eventfds on; see ``VirtioDevice/forwardsQueueNotifications``).
    public let notifiers: [QueueNotifier]

    /// Creates an activation (transports do this).
    public init(
        memory: Memory, features: UInt64, queues: [Virtqueue], interrupt: VirtioInterrupt,
        eventLoop: RemoteEndpoint, notifiers: [QueueNotifier] = [], markBroken: @escaping @Sendable (String) -> Void
    ) {
        self.memory = memory
        self.features = features
        self.queues = queues
        self.interrupt = interrupt
        self.eventLoop = eventLoop
        self.notifiers = notifiers
        self.markBroken = markBroken
    }

    /// Whether the driver accepted feature `bit` (a mask such as `1 << 5`).
    public func negotiated(_ bit: UInt64) -> Bool { features & bit == bit }
}
