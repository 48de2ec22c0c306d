// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory
import VirtioQueue

/// Virtio device IDs (virtio 1.2, section 5), as the transport reports them.
///
/// The IDs of the devices this package implements are named; any other ID (a device a
/// vhost-user back-end implements) is `VirtioDeviceType(rawValue: N)`.
///
/// ```swift
/// #expect(VirtioDeviceType.block.rawValue == 2)
/// #expect(VirtioDeviceType(rawValue: 26) == .filesystem)
/// ```
public struct VirtioDeviceType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The device ID.
    public let rawValue: UInt32
    /// The device with ID `rawValue`.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// virtio-net.
    public static let net = VirtioDeviceType(rawValue: 1)
    /// virtio-blk.
    public static let block = VirtioDeviceType(rawValue: 2)
    /// virtio-console.
    public static let console = VirtioDeviceType(rawValue: 3)
    /// virtio-rng (the entropy device).
    public static let entropy = VirtioDeviceType(rawValue: 4)
    /// virtio-vsock.
    public static let vsock = VirtioDeviceType(rawValue: 19)
    /// virtio-fs (served by a vhost-user back-end such as virtiofsd).
    public static let filesystem = VirtioDeviceType(rawValue: 26)

    /// The name used in messages (`virtio-blk`), or `virtio device N`.
    public var description: String {
        switch rawValue {
        case 1: "virtio-net"
        case 2: "virtio-blk"
        case 3: "virtio-console"
        case 4: "virtio-rng"
        case 19: "virtio-vsock"
        case 26: "virtio-fs"
        default: "virtio device \(rawValue)"
        }
    }
}

/// Feature bits every transport handles itself (virtio 1.2, section 6).
///
/// ```swift
/// let offered = VirtioFeature.version1 | VirtioFeature.ringEventIndex | block.deviceFeatures
/// ```
public enum VirtioFeature {
    /// `VIRTIO_F_RING_INDIRECT_DESC` (28).
    public static let indirectDescriptors: UInt64 = 1 << 28
    /// `VIRTIO_F_RING_EVENT_IDX` (29).
    public static let ringEventIndex: UInt64 = 1 << 29
    /// `VIRTIO_F_VERSION_1` (32): modern little-endian layout; required by this transport.
    public static let version1: UInt64 = 1 << 32
    /// `VIRTIO_F_ACCESS_PLATFORM` (33) is never offered: devices use guest-physical addresses.
    public static let accessPlatform: UInt64 = 1 << 33
    /// `VIRTIO_F_RING_PACKED` (34).
    public static let ringPacked: UInt64 = 1 << 34
}

/// Why a device could not start or stopped working. Guest-caused faults end here,
/// never in a crash: the transport then marks the device `DEVICE_NEEDS_RESET`.
///
/// ```swift
/// throw VirtioDeviceError.queueNotReady(0)
/// ```
public enum VirtioDeviceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The driver enabled the device without enabling queue `index`, which the device needs.
    case queueNotReady(Int)
    /// A queue operation failed (a malformed ring or chain from the guest).
    case queue(VirtioQueueError)
    /// A request the device cannot serve (bad header, wrong buffer layout).
    case malformedRequest(String)
    /// The host side failed (an I/O error, a closed backend).
    case backend(String)

    /// One line for logs.
    public var description: String {
        switch self {
        case .queueNotReady(let index): "queue \(index) was not enabled by the driver"
        case .queue(let error): "queue: \(error)"
        case .malformedRequest(let reason): "malformed request: \(reason)"
        case .backend(let reason): "backend: \(reason)"
        }
    }
}

/// A virtio device behind a transport: the device-type-specific part.
///
/// The transport (``MmioTransport``) owns the registers, feature negotiation,
/// the status state machine and the queues' configuration. When the driver sets
/// `DRIVER_OK` it hands the device a ``VirtioActivation`` (the negotiated
/// features, the configured queues, guest memory and the interrupt) and from
/// then on calls ``queueNotified(_:)`` on its I/O thread whenever the driver
/// notifies a queue. ``reset()`` comes from a vCPU thread, so implementations
/// keep their state behind a lock.
///
/// ```swift
/// let rng = EntropyDevice<GuestMemoryMap<MmapRegion>>()
/// let transport = try MmioTransport(device: rng, interrupt: interrupt, eventLoop: loop.remote, memory: memory)
/// try buses.mmio.insert(transport, at: BusRange(base: 0xd000_0000, size: MmioTransport.windowSize))
/// ```
public protocol VirtioDevice<Memory>: AnyObject, Sendable {
    /// The guest memory the device's queues live in.
    associatedtype Memory: GuestMemory

    /// The device ID the transport reports.
    var deviceType: VirtioDeviceType { get }
    /// The largest size of each queue; the count is the number of queues.
    var queueMaximumSizes: [UInt16] { get }
    /// Device-specific feature bits (the transport adds its own, see ``VirtioFeature``).
    var deviceFeatures: UInt64 { get }
    /// Bytes of device configuration space.
    var configSize: Int { get }

    /// Reads `size` (1, 2, 4 or 8) bytes of configuration space at `offset`, little-endian.
    /// The transport has checked `offset + size <= configSize`.
    func readConfig(offset: Int, size: Int) -> UInt64
    /// A driver write to configuration space; most fields are read-only and ignore it.
    func writeConfig(offset: Int, size: Int, value: UInt64)

    /// The driver set `DRIVER_OK`: start serving the queues in `activation`.
    func activate(_ activation: VirtioActivation<Memory>) throws(VirtioDeviceError)
    /// The driver notified queue `index` (I/O thread): process what it made available.
    func queueNotified(_ index: Int)
    /// The driver reset the device (vCPU thread): stop using the queues and guest memory.
    func reset()

    /// Transport feature bits offered on top of ``deviceFeatures`` (default: `VERSION_1`,
    /// `RING_EVENT_IDX` and `RING_INDIRECT_DESC`, which this package's queues implement).
    /// A device whose queues someone else serves (a vhost-user back-end) returns 0 and
    /// offers exactly what that server supports in ``deviceFeatures``.
    var transportFeatures: UInt64 { get }
    /// Whether the device passes its queues' notifier eventfds on (to a vhost-user back-end,
    /// which reads them) instead of having the transport watch them (default false).
    var forwardsQueueNotifications: Bool { get }
    /// The queues as the device holds them now, nil while it is not active (default nil: the
    /// device does not say). Their next indices tell where a device would go on: a vhost-user
    /// daemon answers `GET_VRING_BASE` from them.
    var activeQueues: [Virtqueue]? { get }
}

extension VirtioDevice {
    /// `VERSION_1 | RING_EVENT_IDX | RING_INDIRECT_DESC`.
    public var transportFeatures: UInt64 {
        VirtioFeature.version1 | VirtioFeature.ringEventIndex | VirtioFeature.indirectDescriptors
    }
    /// False: the transport watches the notifiers and calls ``queueNotified(_:)``.
    public var forwardsQueueNotifications: Bool { false }
    /// Nil: the device does not report its queues.
    public var activeQueues: [Virtqueue]? { nil }
}

extension VirtioDevice {
    /// Reads a little-endian field of `size` bytes at `offset` from a configuration image.
    ///
    /// ```swift
    /// func readConfig(offset: Int, size: Int) -> UInt64 { Self.readLittleEndian(configBytes, offset: offset, size: size) }
    /// ```
    public static func readLittleEndian(_ bytes: [UInt8], offset: Int, size: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<size where offset + index >= 0 && offset + index < bytes.count {
            value |= UInt64(bytes[offset + index]) << (8 * UInt64(index))
        }
        return value
    }
}

/// Little-endian configuration-space images.
///
/// ```swift
/// var config = ConfigSpace()
/// config.append(UInt64(capacitySectors))
/// config.append(UInt32(maxSegmentSize))
/// ```
public struct ConfigSpace: Sendable, Equatable {
    /// The bytes so far.
    public private(set) var bytes: [UInt8] = []
    /// An empty image.
    public init() {}
    /// Appends `value` little-endian.
    public mutating func append<T: FixedWidthInteger>(_ value: T) {
        // SAFETY: reads exactly the value's own MemoryLayout<T>.size bytes.
        unsafe withUnsafeBytes(of: value.littleEndian) { unsafe bytes.append(contentsOf: $0) }
    }
    /// Appends raw bytes.
    public mutating func append(bytes more: [UInt8]) { bytes.append(contentsOf: more) }
}
