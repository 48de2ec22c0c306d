// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Synchronization
import VMDevice
import VMMSysUtil
import VMMemory
import VirtioQueue

/// Register offsets of the virtio-mmio version 2 layout (virtio 1.2, section 4.2.2).
///
/// ```swift
/// let notifyAddress = base + MmioRegister.queueNotify
/// ```
public enum MmioRegister {
    /// "virt" in little-endian: 0x74726976.
    public static let magicValue: UInt64 = 0x000
    /// 2 for the modern layout.
    public static let version: UInt64 = 0x004
    /// ``VirtioDeviceType``.
    public static let deviceID: UInt64 = 0x008
    /// The vendor ID.
    public static let vendorID: UInt64 = 0x00c
    /// 32 feature bits of the bank ``deviceFeaturesSelect`` chose.
    public static let deviceFeatures: UInt64 = 0x010
    /// The device feature bank (0: bits 0–31, 1: bits 32–63).
    public static let deviceFeaturesSelect: UInt64 = 0x014
    /// 32 bits of the driver's accepted features.
    public static let driverFeatures: UInt64 = 0x020
    /// The driver feature bank.
    public static let driverFeaturesSelect: UInt64 = 0x024
    /// Selects the queue the queue registers refer to.
    public static let queueSelect: UInt64 = 0x030
    /// The selected queue's largest size (0: no such queue).
    public static let queueSizeMaximum: UInt64 = 0x034
    /// The selected queue's size.
    public static let queueSize: UInt64 = 0x038
    /// 1 once the driver enabled the selected queue.
    public static let queueReady: UInt64 = 0x044
    /// The driver writes a queue index to notify it.
    public static let queueNotify: UInt64 = 0x050
    /// ``VirtioInterrupt/Reason`` bits.
    public static let interruptStatus: UInt64 = 0x060
    /// The driver acknowledges interrupt bits.
    public static let interruptAcknowledge: UInt64 = 0x064
    /// The device status byte; writing 0 resets.
    public static let status: UInt64 = 0x070
    /// Descriptor area, low 32 bits (high at +4).
    public static let queueDescriptorLow: UInt64 = 0x080
    /// Driver (available) area, low 32 bits.
    public static let queueDriverLow: UInt64 = 0x090
    /// Device (used) area, low 32 bits.
    public static let queueDeviceLow: UInt64 = 0x0a0
    /// Shared memory region select.
    public static let sharedMemorySelect: UInt64 = 0x0ac
    /// Shared memory length, low (all ones: no region).
    public static let sharedMemoryLengthLow: UInt64 = 0x0b0
    /// Shared memory length, high.
    public static let sharedMemoryLengthHigh: UInt64 = 0x0b4
    /// Changes whenever the configuration space changes.
    public static let configGeneration: UInt64 = 0x0fc
    /// Start of the device configuration space.
    public static let config: UInt64 = 0x100
}

/// Device status bits (virtio 1.2, section 2.1).
///
/// ```swift
/// #expect(transport.status.contains(.driverOK))
/// ```
public struct DeviceStatus: OptionSet, Sendable, Hashable {
    /// The raw byte.
    public let rawValue: UInt32
    /// Creates status bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The guest noticed the device.
    public static let acknowledge = DeviceStatus(rawValue: 1)
    /// The guest has a driver for it.
    public static let driver = DeviceStatus(rawValue: 2)
    /// The driver is ready.
    public static let driverOK = DeviceStatus(rawValue: 4)
    /// Feature negotiation is complete.
    public static let featuresOK = DeviceStatus(rawValue: 8)
    /// The device hit an error it cannot recover from without a reset.
    public static let deviceNeedsReset = DeviceStatus(rawValue: 64)
    /// The driver gave up on the device.
    public static let failed = DeviceStatus(rawValue: 128)
}

/// The virtio-mmio version 2 transport: one device's register window on the MMIO bus.
///
/// Every register write comes from the guest and is checked: unaligned or
/// narrow register accesses, unknown registers, out-of-range queue selections,
/// queue configuration outside the allowed status window, features the device
/// did not offer and rings outside guest memory are ignored or refused, never
/// trusted. Queue notifications go to each queue's ``QueueNotifier``, handled
/// on the event loop thread given at creation, so device work never runs on a
/// vCPU thread.
///
/// Tell the guest where the device is with ``kernelParameter(base:irq:)``
/// (`virtio_mmio.device=4K@0xd0000000:5`) or a device-tree node.
///
/// ```swift
/// let transport = try MmioTransport(device: rng, interrupt: interrupt, eventLoop: loop.remote, memory: memory)
/// try buses.mmio.insert(transport, at: BusRange(base: 0xd000_0000, size: MmioTransport.windowSize))
/// commandLine += " " + MmioTransport.kernelParameter(base: 0xd000_0000, irq: 5)
/// ```
public final class MmioTransport<Memory: GuestMemory>: BusDevice, Sendable {
    /// The size of the register window including configuration space (4 KiB).
    public static var windowSize: UInt64 { 0x1000 }
    /// "virt".
    public static var magic: UInt32 { 0x7472_6976 }
    /// The vendor ID reported ("SVMM").
    public static var vendor: UInt32 { 0x4d4d_5653 }

    /// The device behind the transport.
    public let device: any VirtioDevice<Memory>
    /// The device's interrupt.
    public let interrupt: VirtioInterrupt
    /// One notifier per queue, in queue order.
    public let notifiers: [QueueNotifier]
    /// Features offered: the device's plus the transport's.
    public let offeredFeatures: UInt64
    private let memory: Memory
    private let eventLoop: RemoteEndpoint
    private let state: Mutex<TransportState>
    private let active = Atomic<Bool>(false)
    private let lastError = Mutex<String?>(nil)

    /// Serves `device` with `memory`, signalling `interrupt` and processing queue
    /// notifications on `eventLoop`'s thread. Offers `VIRTIO_F_RING_PACKED` only when
    /// `offerPackedRing` is set.
    public init(
        device: any VirtioDevice<Memory>, interrupt: VirtioInterrupt, eventLoop: RemoteEndpoint, memory: Memory,
        offerPackedRing: Bool = false
    ) throws(VirtioDeviceError) {
        self.device = device
        self.interrupt = interrupt
        self.memory = memory
        self.eventLoop = eventLoop
        var features = device.deviceFeatures | device.transportFeatures
        features &= ~VirtioFeature.accessPlatform
        if offerPackedRing { features |= VirtioFeature.ringPacked } else { features &= ~VirtioFeature.ringPacked }
        offeredFeatures = features
        var queues: [Virtqueue] = []
        var notifiers: [QueueNotifier] = []
        do {
            for (index, size) in device.queueMaximumSizes.enumerated() {
                queues.append(try Virtqueue(maximumSize: size))
                notifiers.append(try QueueNotifier(queueIndex: index))
            }
        } catch let error as VirtioQueueError {
            throw .queue(error)
        } catch {
            throw .backend("queue notifier: \(error)")
        }
        self.notifiers = notifiers
        state = Mutex(TransportState(queues: queues))
        // The device's own consumer (a vhost-user back-end) reads the eventfds; two readers would race.
        guard !device.forwardsQueueNotifications else { return }
        let subscriber = NotificationSubscriber(notifiers: notifiers) { [weak self] index in
            self?.notified(index)
        }
        do {
            _ = try eventLoop.add(subscriber)
        } catch {
            throw .backend("event loop: \(error)")
        }
    }

    /// The `virtio_mmio.device=` kernel parameter for a window at `base` raising `irq`.
    public static func kernelParameter(base: UInt64, irq: UInt32) -> String {
        "virtio_mmio.device=4K@0x\(String(base, radix: 16)):\(irq)"
    }

    /// The device status the driver has set.
    public var status: DeviceStatus { state.withLock { $0.status } }
    /// The features the driver accepted.
    public var driverFeatures: UInt64 { state.withLock { $0.driverFeatures } }
    /// Why the device was marked broken, until the driver resets it.
    public var brokenReason: String? { lastError.withLock { $0 } }

    // MARK: BusDevice

    /// A guest read of the register window.
    public func read(offset: UInt64, size: Int) -> UInt64 {
        if offset >= MmioRegister.config { return readConfig(offset: offset - MmioRegister.config, size: size) }
        guard size == 4, offset & 3 == 0 else { return 0 }
        return UInt64(readRegister(offset))
    }

    /// A guest write to the register window.
    public func write(offset: UInt64, size: Int, value: UInt64) {
        if offset >= MmioRegister.config {
            writeConfig(offset: offset - MmioRegister.config, size: size, value: value)
            return
        }
        guard size == 4, offset & 3 == 0 else { return }
        writeRegister(offset, UInt32(truncatingIfNeeded: value))
    }

    // MARK: Registers

    private func readRegister(_ offset: UInt64) -> UInt32 {
        switch offset {
        case MmioRegister.magicValue: return Self.magic
        case MmioRegister.version: return 2
        case MmioRegister.deviceID: return device.deviceType.rawValue
        case MmioRegister.vendorID: return Self.vendor
        case MmioRegister.interruptStatus: return interrupt.pending.rawValue
        case MmioRegister.sharedMemoryLengthLow, MmioRegister.sharedMemoryLengthHigh: return .max
        default: break
        }
        return state.withLock { state in
            switch offset {
            case MmioRegister.deviceFeatures:
                switch state.deviceFeaturesSelect {
                case 0: return UInt32(truncatingIfNeeded: offeredFeatures)
                case 1: return UInt32(truncatingIfNeeded: offeredFeatures >> 32)
                default: return 0
                }
            case MmioRegister.queueSizeMaximum:
                return state.selectedQueue.map { UInt32(state.queues[$0].maximumSize) } ?? 0
            case MmioRegister.queueSize:
                return state.selectedQueue.map { UInt32(state.queues[$0].size) } ?? 0
            case MmioRegister.queueReady:
                return state.selectedQueue.map { state.queues[$0].ready ? 1 : 0 } ?? 0
            case MmioRegister.status: return state.status.rawValue
            case MmioRegister.configGeneration: return state.configGeneration
            case MmioRegister.queueDescriptorLow, MmioRegister.queueDescriptorLow + 4,
                MmioRegister.queueDriverLow, MmioRegister.queueDriverLow + 4,
                MmioRegister.queueDeviceLow, MmioRegister.queueDeviceLow + 4:
                guard let index = state.selectedQueue else { return 0 }
                let queue = state.queues[index]
                let address: GuestAddress =
                    switch offset & ~7 {
                    case MmioRegister.queueDescriptorLow: queue.descriptorArea
                    case MmioRegister.queueDriverLow: queue.driverArea
                    default: queue.deviceArea
                    }
                return UInt32(truncatingIfNeeded: offset & 4 == 0 ? address.rawValue : address.rawValue >> 32)
            default: return 0
            }
        }
    }

    private func writeRegister(_ offset: UInt64, _ value: UInt32) {
        switch offset {
        case MmioRegister.queueNotify:
            // Reached only without an ioeventfd on this register.
            if Int(value) < notifiers.count { try? notifiers[Int(value)].event.signal() }
            return
        case MmioRegister.interruptAcknowledge:
            interrupt.acknowledge(VirtioInterrupt.Reason(rawValue: value))
            return
        case MmioRegister.status:
            writeStatus(value)
            return
        default: break
        }
        state.withLock { state in
            switch offset {
            case MmioRegister.deviceFeaturesSelect: state.deviceFeaturesSelect = value
            case MmioRegister.driverFeaturesSelect: state.driverFeaturesSelect = value
            case MmioRegister.driverFeatures:
                guard state.status.contains(.driver), !state.status.contains(.featuresOK) else { return }
                switch state.driverFeaturesSelect {
                case 0: state.driverFeatures = state.driverFeatures & ~0xffff_ffff | UInt64(value)
                case 1: state.driverFeatures = state.driverFeatures & 0xffff_ffff | UInt64(value) << 32
                default: break
                }
            case MmioRegister.queueSelect: state.queueSelect = value
            case MmioRegister.queueSize:
                guard let index = state.reconfigurableQueue else { return }
                state.queues[index].size = UInt16(truncatingIfNeeded: value)
            case MmioRegister.queueReady:
                guard let index = state.configurableQueue else { return }
                if value == 1 {
                    state.queues[index].format = state.driverFeatures & VirtioFeature.ringPacked != 0 ? .packed : .split
                    state.queues[index].eventIndexEnabled = state.driverFeatures & VirtioFeature.ringEventIndex != 0
                    // A ring outside guest memory or a bad size leaves the queue disabled (the driver reads 0 back).
                    try? state.queues[index].activate(in: memory)
                } else if value == 0 {
                    state.queues[index].ready = false
                }
            case MmioRegister.queueDescriptorLow, MmioRegister.queueDescriptorLow + 4,
                MmioRegister.queueDriverLow, MmioRegister.queueDriverLow + 4,
                MmioRegister.queueDeviceLow, MmioRegister.queueDeviceLow + 4:
                guard let index = state.reconfigurableQueue else { return }
                func merged(_ old: GuestAddress) -> GuestAddress {
                    offset & 4 == 0
                        ? GuestAddress(old.rawValue & ~0xffff_ffff | UInt64(value))
                        : GuestAddress(old.rawValue & 0xffff_ffff | UInt64(value) << 32)
                }
                switch offset & ~7 {
                case MmioRegister.queueDescriptorLow:
                    state.queues[index].descriptorArea = merged(state.queues[index].descriptorArea)
                case MmioRegister.queueDriverLow:
                    state.queues[index].driverArea = merged(state.queues[index].driverArea)
                default:
                    state.queues[index].deviceArea = merged(state.queues[index].deviceArea)
                }
            default: break  // read-only or unknown registers ignore writes
            }
        }
    }

    /// What a status write asks for; device calls happen after the lock is released
    /// (the device's I/O thread may call ``markBroken(_:)``, which takes it).
    private enum StatusAction { case none, reset, activate(VirtioActivation<Memory>) }

    private func writeStatus(_ value: UInt32) {
        let action: StatusAction = state.withLock { state in
            if value == 0 {
                state.reset()
                return .reset
            }
            let requested = DeviceStatus(rawValue: value & 0xff)
            // Drivers only add bits; clearing one other than by reset is refused.
            guard requested.isSuperset(of: state.status.subtracting(.deviceNeedsReset)) else { return .none }
            var next = requested
            if requested.contains(.featuresOK) && !state.status.contains(.featuresOK) {
                let acceptable =
                    state.driverFeatures & ~offeredFeatures == 0 && state.driverFeatures & VirtioFeature.version1 != 0
                if !acceptable { next.remove(.featuresOK) }  // the driver reads it back and gives up
            }
            if next.contains(.driverOK) && !next.contains(.featuresOK) { next.remove(.driverOK) }
            let activating = next.contains(.driverOK) && !state.status.contains(.driverOK)
            next.formUnion(state.status.intersection(.deviceNeedsReset))
            state.status = next
            guard activating, !next.contains(.failed) else { return .none }
            return .activate(
                VirtioActivation(
                    memory: memory, features: state.driverFeatures, queues: state.queues, interrupt: interrupt,
                    eventLoop: eventLoop, notifiers: notifiers,
                    markBroken: { [weak self] reason in self?.markBroken(reason) }))
        }
        switch action {
        case .none: break
        case .reset:
            active.store(false, ordering: .releasing)
            lastError.withLock { $0 = nil }
            device.reset()
            interrupt.clear()
        case .activate(let activation):
            do {
                try device.activate(activation)
                active.store(true, ordering: .releasing)
                // Buffers made available before DRIVER_OK (drivers may do that) are served now
                // (a forwarding device's back-end checks its rings when it starts them).
                if !device.forwardsQueueNotifications {
                    for notifier in notifiers { try? notifier.event.signal() }
                }
            } catch {
                markBroken("activation failed: \(error)")
            }
        }
    }

    /// Sets `DEVICE_NEEDS_RESET`, raises a configuration interrupt and stops serving the
    /// queues until the driver resets the device. Devices call it (through their activation)
    /// on guest faults they cannot recover from; the VMM keeps running.
    public func markBroken(_ reason: String) {
        active.store(false, ordering: .releasing)
        lastError.withLock { $0 = reason }
        state.withLock { state in
            state.status.insert(.deviceNeedsReset)
            state.configGeneration &+= 1
        }
        interrupt.signal(.configurationChange)
    }

    private func notified(_ index: Int) {
        guard active.load(ordering: .acquiring) else { return }
        device.queueNotified(index)
    }

    private func readConfig(offset: UInt64, size: Int) -> UInt64 {
        guard [1, 2, 4, 8].contains(size), offset + UInt64(size) <= UInt64(device.configSize) else { return 0 }
        return device.readConfig(offset: Int(offset), size: size)
    }

    private func writeConfig(offset: UInt64, size: Int, value: UInt64) {
        guard [1, 2, 4, 8].contains(size), offset + UInt64(size) <= UInt64(device.configSize) else { return }
        device.writeConfig(offset: Int(offset), size: size, value: value)
    }
}

/// The transport's register state.
struct TransportState {
    var status: DeviceStatus = []
    var deviceFeaturesSelect: UInt32 = 0
    var driverFeaturesSelect: UInt32 = 0
    var driverFeatures: UInt64 = 0
    var queueSelect: UInt32 = 0
    var configGeneration: UInt32 = 0
    var queues: [Virtqueue]

    init(queues: [Virtqueue]) { self.queues = queues }

    var selectedQueue: Int? { Int(queueSelect) < queues.count ? Int(queueSelect) : nil }

    /// The selected queue while queue registers may change: after FEATURES_OK, before DRIVER_OK.
    var configurableQueue: Int? {
        guard status.contains(.featuresOK), !status.contains(.driverOK) else { return nil }
        return selectedQueue
    }

    /// The configurable queue while its size and rings may change: not enabled yet. An enabled
    /// queue was validated against guest memory; changing it afterwards would hand the device
    /// rings nobody checked. A driver that wants to change it disables it first.
    var reconfigurableQueue: Int? {
        guard let index = configurableQueue, !queues[index].ready else { return nil }
        return index
    }

    mutating func reset() {
        status = []
        deviceFeaturesSelect = 0
        driverFeaturesSelect = 0
        driverFeatures = 0
        queueSelect = 0
        configGeneration &+= 1
        for index in queues.indices { queues[index].reset() }
    }
}

/// Drains queue notifiers on the event loop and passes each notification on.
final class NotificationSubscriber: EventSubscriber {
    let notifiers: [QueueNotifier]
    let onNotify: (Int) -> Void

    init(notifiers: [QueueNotifier], onNotify: @escaping (Int) -> Void) {
        self.notifiers = notifiers
        self.onNotify = onNotify
    }

    func register(with ops: EventOps) throws {
        for notifier in notifiers {
            try ops.add(notifier.event.descriptor.rawValue, events: .readable, data: UInt64(notifier.queueIndex))
        }
    }

    func process(_ event: ReadyEvent, with ops: EventOps) throws {
        let index = Int(event.data)
        guard index < notifiers.count else { return }
        _ = try? notifiers[index].event.wait()
        onNotify(index)
    }
}
