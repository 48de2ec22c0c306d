// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// Everything needed to rebuild a ``Virtqueue`` after a snapshot or live migration:
/// configuration, ring positions and wrap counters, as a plain value.
///
/// The only thing not saved is how many used entries the driver has been told
/// about; a restored queue answers its first ``Virtqueue/needsNotification(_:)``
/// with `true`, because a spurious interrupt is harmless and a missed one is not.
///
/// ```swift
/// let saved = queue.state
/// let bytes = saved.serialized()                      // 36 bytes for a snapshot file
/// let restored = try Virtqueue(state: QueueState(serialized: bytes))
/// ```
public struct QueueState: Sendable, Equatable {
    /// ``Virtqueue/maximumSize``.
    public var maximumSize: UInt16
    /// ``Virtqueue/format``.
    public var format: RingFormat
    /// ``Virtqueue/size``.
    public var size: UInt16
    /// ``Virtqueue/ready``.
    public var ready: Bool
    /// ``Virtqueue/descriptorArea``.
    public var descriptorArea: GuestAddress
    /// ``Virtqueue/driverArea``.
    public var driverArea: GuestAddress
    /// ``Virtqueue/deviceArea``.
    public var deviceArea: GuestAddress
    /// ``Virtqueue/nextAvailable``.
    public var nextAvailable: UInt16
    /// ``Virtqueue/nextUsed``.
    public var nextUsed: UInt16
    /// ``Virtqueue/availableWrapCounter``.
    public var availableWrapCounter: Bool
    /// ``Virtqueue/usedWrapCounter``.
    public var usedWrapCounter: Bool
    /// ``Virtqueue/eventIndexEnabled``.
    public var eventIndexEnabled: Bool
    /// ``Virtqueue/notificationsEnabled``.
    public var notificationsEnabled: Bool

    /// A state with every field given.
    public init(
        maximumSize: UInt16, format: RingFormat, size: UInt16, ready: Bool, descriptorArea: GuestAddress,
        driverArea: GuestAddress, deviceArea: GuestAddress, nextAvailable: UInt16, nextUsed: UInt16,
        availableWrapCounter: Bool, usedWrapCounter: Bool, eventIndexEnabled: Bool, notificationsEnabled: Bool
    ) {
        self.maximumSize = maximumSize
        self.format = format
        self.size = size
        self.ready = ready
        self.descriptorArea = descriptorArea
        self.driverArea = driverArea
        self.deviceArea = deviceArea
        self.nextAvailable = nextAvailable
        self.nextUsed = nextUsed
        self.availableWrapCounter = availableWrapCounter
        self.usedWrapCounter = usedWrapCounter
        self.eventIndexEnabled = eventIndexEnabled
        self.notificationsEnabled = notificationsEnabled
    }

    /// The encoding's version byte; a change of layout gets a new value.
    static var encodingVersion: UInt8 { 1 }
    /// Bytes of ``serialized()``.
    public static var serializedSize: Int { 36 }

    /// A fixed 36-byte little-endian encoding: version, format, flag bits,
    /// maximum size, size, the three addresses, next available, next used.
    public func serialized() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.serializedSize)
        func put<T: FixedWidthInteger>(_ value: T) {
            for shift in stride(from: 0, to: T.bitWidth, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: value >> shift))
            }
        }
        put(Self.encodingVersion)
        put(UInt8(format == .split ? 0 : 1))
        var bits: UInt8 = 0
        if ready { bits |= 1 }
        if availableWrapCounter { bits |= 2 }
        if usedWrapCounter { bits |= 4 }
        if eventIndexEnabled { bits |= 8 }
        if notificationsEnabled { bits |= 16 }
        put(bits)
        put(UInt8(0))  // reserved, keeps the 16-bit fields even
        put(maximumSize)
        put(size)
        put(descriptorArea.rawValue)
        put(driverArea.rawValue)
        put(deviceArea.rawValue)
        put(nextAvailable)
        put(nextUsed)
        return bytes
    }

    /// Decodes ``serialized()`` output. A snapshot file is untrusted input: a wrong
    /// length, version, format, flag or reserved bit is ``VirtioQueueError/invalidState``.
    public init(serialized bytes: [UInt8]) throws(VirtioQueueError) {
        guard bytes.count == Self.serializedSize, bytes[0] == Self.encodingVersion, bytes[1] <= 1,
            bytes[2] & ~0x1f == 0, bytes[3] == 0
        else { throw .invalidState }
        func get<T: FixedWidthInteger>(_: T.Type, _ offset: Int) -> T {
            var value: T = 0
            for index in 0..<(T.bitWidth / 8) { value |= T(truncatingIfNeeded: bytes[offset + index]) << (index * 8) }
            return value
        }
        let bits = bytes[2]
        self.init(
            maximumSize: get(UInt16.self, 4), format: bytes[1] == 0 ? .split : .packed, size: get(UInt16.self, 6),
            ready: bits & 1 != 0, descriptorArea: GuestAddress(get(UInt64.self, 8)),
            driverArea: GuestAddress(get(UInt64.self, 16)), deviceArea: GuestAddress(get(UInt64.self, 24)),
            nextAvailable: get(UInt16.self, 32), nextUsed: get(UInt16.self, 34), availableWrapCounter: bits & 2 != 0,
            usedWrapCounter: bits & 4 != 0, eventIndexEnabled: bits & 8 != 0, notificationsEnabled: bits & 16 != 0)
    }
}

extension Virtqueue {
    /// The queue's configuration and positions, for a snapshot.
    public var state: QueueState {
        QueueState(
            maximumSize: maximumSize, format: format, size: size, ready: ready, descriptorArea: descriptorArea,
            driverArea: driverArea, deviceArea: deviceArea, nextAvailable: nextAvailable, nextUsed: nextUsed,
            availableWrapCounter: availableWrapCounter, usedWrapCounter: usedWrapCounter,
            eventIndexEnabled: eventIndexEnabled, notificationsEnabled: notificationsEnabled)
    }

    /// Rebuilds a queue from a saved state. Guest memory is not consulted (call
    /// ``validate(in:)`` once memory is restored), but the state must be
    /// self-consistent: a valid maximum size, and for a ready queue a valid size
    /// and, packed, ring slots inside the ring.
    public init(state: QueueState) throws(VirtioQueueError) {
        try self.init(maximumSize: state.maximumSize)
        format = state.format
        size = state.size
        ready = state.ready
        descriptorArea = state.descriptorArea
        driverArea = state.driverArea
        deviceArea = state.deviceArea
        _nextAvailable = state.nextAvailable
        _nextUsed = state.nextUsed
        _availableWrapCounter = state.availableWrapCounter
        _usedWrapCounter = state.usedWrapCounter
        eventIndexEnabled = state.eventIndexEnabled
        _notificationsEnabled = state.notificationsEnabled
        if ready {
            do throws(VirtioQueueError) {
                try checkSize()
            } catch {
                throw .invalidState
            }
            if format == .packed && (nextAvailable >= size || nextUsed >= size) { throw .invalidState }
        }
    }
}
