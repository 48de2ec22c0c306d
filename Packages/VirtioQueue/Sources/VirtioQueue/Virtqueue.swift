// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Synchronization
import VMMemory

/// The device side of one virtqueue, split or packed (virtio 1.2, sections 2.7 and 2.8).
///
/// A transport (virtio-mmio, PCI) fills in the configuration the driver writes:
/// ``size``, the three area addresses, ``format`` and ``eventIndexEnabled`` from
/// the negotiated features, then ``activate(in:)``. The device then pops
/// descriptor chains, uses their buffers, returns them with ``addUsed(_:writtenLength:to:)``
/// and asks ``needsNotification(_:)`` whether to interrupt the driver.
///
/// Guest memory is passed to every call rather than stored, so the queue is a
/// plain value; everything read from guest memory is checked, and every fault a
/// guest can cause is a ``VirtioQueueError``. All multi-byte fields are
/// little-endian (`VIRTIO_F_VERSION_1`); legacy guest-endian layouts are not supported.
///
/// ```swift
/// var queue = try Virtqueue(maximumSize: 256)
/// queue.size = 256
/// queue.descriptorArea = GuestAddress(0x10000)
/// queue.driverArea = GuestAddress(0x11000)
/// queue.deviceArea = GuestAddress(0x12000)
/// try queue.activate(in: memory)
/// while true {
///     try queue.disableNotification(in: memory)
///     while let chain = try queue.pop(from: memory) {
///         try queue.addUsed(chain, writtenLength: 0, to: memory)
///     }
///     if try !queue.enableNotification(in: memory) { break }  // nothing arrived meanwhile
/// }
/// if try queue.needsNotification(memory) { interrupt() }
/// ```
public struct Virtqueue: Sendable, Equatable {
    /// The largest queue size virtio allows, 2^15.
    @inlinable
    public static var largestSize: UInt16 { 32768 }
    /// The most entries an indirect table may have. The specification sets no limit
    /// below 2^28; a split table cannot address more than 2^16 through `next`, so
    /// larger tables are refused to bound the work a guest can cause per chain.
    @inlinable
    public static var maximumIndirectEntries: UInt32 { 65536 }

    /// The largest size the device offers for this queue.
    public let maximumSize: UInt16
    /// The ring layout (packed when `VIRTIO_F_RING_PACKED` was negotiated).
    public var format: RingFormat
    /// The number of entries the driver chose; ``maximumSize`` until it writes one.
    public var size: UInt16
    /// Split: descriptor table. Packed: descriptor ring.
    public var descriptorArea: GuestAddress
    /// Split: available ring. Packed: driver event suppression structure.
    public var driverArea: GuestAddress
    /// Split: used ring. Packed: device event suppression structure.
    public var deviceArea: GuestAddress
    /// Whether `VIRTIO_F_EVENT_IDX` (`VIRTIO_F_RING_EVENT_IDX`) was negotiated.
    public var eventIndexEnabled: Bool
    /// Whether the driver enabled the queue. Set it with ``activate(in:)`` to check the
    /// configuration first; the queue refuses to pop or add while not ready.
    public var ready: Bool

    /// Split: the next available ring index to read (free-running, wraps at 2^16).
    /// Packed: the ring slot of the next descriptor to read.
    @inlinable
    public var nextAvailable: UInt16 { _nextAvailable }
    /// Split: the next used ring index to write (free-running). Packed: the ring
    /// slot of the next used descriptor to write.
    @inlinable
    public var nextUsed: UInt16 { _nextUsed }
    /// Packed: the driver ring wrap counter the device expects at ``nextAvailable``.
    @inlinable
    public var availableWrapCounter: Bool { _availableWrapCounter }
    /// Packed: the device ring wrap counter, written into used descriptors.
    @inlinable
    public var usedWrapCounter: Bool { _usedWrapCounter }
    /// Whether the device currently asks the driver for available buffer notifications.
    @inlinable
    public var notificationsEnabled: Bool { _notificationsEnabled }

    /// Used entries (split) or used ring slots (packed) written since the previous
    /// ``needsNotification(_:)``, or nil when unknown (after a restore): then the
    /// queue notifies, since a missed notification can stall the driver.
    @usableFromInline
    var usedSinceCheck: UInt32?
    // Storage of the read-only positions above, settable by the inlinable ring code.
    @usableFromInline var _nextAvailable: UInt16
    @usableFromInline var _nextUsed: UInt16
    @usableFromInline var _availableWrapCounter: Bool
    @usableFromInline var _usedWrapCounter: Bool
    @usableFromInline var _notificationsEnabled: Bool

    /// A queue offering up to `maximumSize` entries (1...32768), not ready, split format.
    @inlinable
    public init(maximumSize: UInt16) throws(VirtioQueueError) {
        guard maximumSize >= 1, maximumSize <= Self.largestSize else { throw .invalidMaximumSize(maximumSize) }
        self.init(checkedMaximumSize: maximumSize)
    }

    /// The reset state for a maximum size `init(maximumSize:)` has already checked.
    @inlinable
    init(checkedMaximumSize maximumSize: UInt16) {
        self.maximumSize = maximumSize
        format = .split
        size = maximumSize
        descriptorArea = .zero
        driverArea = .zero
        deviceArea = .zero
        eventIndexEnabled = false
        ready = false
        _nextAvailable = 0
        _nextUsed = 0
        _availableWrapCounter = true
        _usedWrapCounter = true
        _notificationsEnabled = true
        usedSinceCheck = nil
    }

    /// Returns the queue to its state after `init` (a device reset): not ready,
    /// split, full size, addresses and indices zero, wrap counters 1.
    @inlinable
    public mutating func reset() {
        self = Self(checkedMaximumSize: maximumSize)
    }

    // MARK: Configuration checks

    /// Throws unless ``size`` suits ``format`` and ``maximumSize``: split sizes are
    /// powers of two, packed sizes any value; both 1...maximumSize.
    @inlinable
    public func checkSize() throws(VirtioQueueError) {
        let powerOfTwo = size & (size &- 1) == 0
        guard size >= 1, size <= maximumSize, format == .packed || powerOfTwo else {
            throw .invalidSize(size, maximum: maximumSize, format: format)
        }
    }

    /// Where `area` lies and how long it is for the current size and format.
    @inlinable
    public func range(of area: QueueArea) -> (address: GuestAddress, length: UInt64) {
        let address: GuestAddress
        switch area {
        case .descriptors: address = descriptorArea
        case .driver: address = driverArea
        case .device: address = deviceArea
        }
        return (address, Layout.length(of: area, format: format, size: size))
    }

    /// Checks the configuration against the specification and `memory`: a valid
    /// size, each area aligned as required, not wrapping past 2^64, wholly in guest
    /// memory, and no two areas overlapping. The `used_event`/`avail_event` words are included even
    /// without event indices, as drivers allocate them anyway.
    @inlinable
    public func validate(in memory: some GuestMemory) throws(VirtioQueueError) {
        try checkSize()
        for area in [QueueArea.descriptors, .driver, .device] {
            let (address, length) = range(of: area)
            let alignment = Layout.alignment(of: area, format: format)
            guard address.isAligned(to: alignment) else { throw .misalignedArea(area, address, alignment: alignment) }
            guard address.checkedAdd(length - 1) != nil else { throw .areaOverflow(area, address, length: length) }
            do throws(GuestMemoryError) {
                try memory.checkRange(at: address, length: length)
            } catch {
                throw .areaNotInMemory(area, address, length: length)
            }
        }
        // The three areas are separate structures; none ends past 2^64 (checked above).
        let areas: [QueueArea] = [.descriptors, .driver, .device]
        for (index, first) in areas.enumerated() {
            for second in areas[(index + 1)...] {
                let (a, aLength) = range(of: first)
                let (b, bLength) = range(of: second)
                if a.rawValue < b.rawValue + bLength, b.rawValue < a.rawValue + aLength {
                    throw .overlappingAreas(first, second)
                }
            }
        }
    }

    /// Whether ``validate(in:)`` passes.
    @inlinable
    public func isValid(in memory: some GuestMemory) -> Bool {
        do throws(VirtioQueueError) {
            try validate(in: memory)
            return true
        } catch {
            return false
        }
    }

    /// Validates the configuration, then marks the queue ready: what a transport
    /// does when the driver writes 1 to `QueueReady`. Nothing has been used yet,
    /// so the first ``needsNotification(_:)`` only reports buffers added after this.
    @inlinable
    public mutating func activate(in memory: some GuestMemory) throws(VirtioQueueError) {
        try validate(in: memory)
        ready = true
        // Nothing has been used yet, so the driver has seen every used entry.
        usedSinceCheck = 0
    }

    /// The checks every ring operation repeats cheaply: ready and a usable size
    /// (a bad size would otherwise divide by zero or index past a ring).
    @inlinable
    func checkOperational() throws(VirtioQueueError) {
        guard ready else { throw .notReady }
        try checkSize()
    }

    // MARK: Device operations

    /// Takes the next descriptor chain the driver made available, or nil when
    /// there is none.
    ///
    /// The whole chain is read and checked before it is returned: indices in
    /// range, at most one level of indirection, no loops, readable buffers
    /// before writable ones, every buffer inside `memory`, at most 2^32 bytes.
    /// A malformed chain throws ``VirtioQueueError/invalidChain(head:_:)`` and is
    /// consumed (split: its available entry; packed: the ring slots read), so the
    /// next call looks at the next chain. Ring faults throw without consuming.
    @inlinable
    public mutating func pop(from memory: some GuestMemory) throws(VirtioQueueError) -> DescriptorChain? {
        try checkOperational()
        switch format {
        case .split: return try popSplit(memory)
        case .packed: return try popPacked(memory)
        }
    }

    /// Whether the driver has made a chain available that ``pop(from:)`` would take.
    @inlinable
    public func hasAvailable(in memory: some GuestMemory) throws(VirtioQueueError) -> Bool {
        try checkOperational()
        switch format {
        case .split: return try splitAvailableIndex(memory) != nextAvailable
        case .packed: return try packedSlotIsAvailable(nextAvailable, wrap: availableWrapCounter, memory)
        }
    }

    /// Returns `chain` to the driver, telling it the device wrote `writtenLength`
    /// bytes into the chain's writable buffers.
    @inlinable
    public mutating func addUsed(
        _ chain: DescriptorChain, writtenLength: UInt32, to memory: some GuestMemory
    ) throws(VirtioQueueError) {
        switch format {
        case .split: try addUsed(id: chain.id, writtenLength: writtenLength, to: memory)
        case .packed:
            try addUsed(
                id: chain.id, descriptorCount: chain.ringDescriptorCount, writtenLength: writtenLength, to: memory)
        }
    }

    /// Split ring: writes the used element (`id`, `writtenLength`) and publishes it.
    /// `id` must be a head index below ``size``.
    @inlinable
    public mutating func addUsed(
        id: UInt16, writtenLength: UInt32, to memory: some GuestMemory
    ) throws(VirtioQueueError) {
        try checkOperational()
        guard format == .split else { throw .wrongFormat(format) }
        try addUsedSplit(id: id, writtenLength: writtenLength, memory)
    }

    /// Packed ring: writes a used descriptor with buffer `id` for a buffer that
    /// occupied `descriptorCount` ring slots, and moves past those slots.
    @inlinable
    public mutating func addUsed(
        id: UInt16, descriptorCount: UInt16, writtenLength: UInt32, to memory: some GuestMemory
    ) throws(VirtioQueueError) {
        try checkOperational()
        guard format == .packed else { throw .wrongFormat(format) }
        try addUsedPacked(id: id, count: descriptorCount, writtenLength: writtenLength, memory)
    }

    /// Whether the driver wants a used buffer notification (an interrupt) for the
    /// buffers added since the previous call.
    ///
    /// Without event indices this follows the driver's "no interrupt" flag; with
    /// them, the driver's published event index and the wrap-safe comparison of
    /// ``EventIndex``. A full memory fence first orders the device's used-index
    /// store before the read of the driver's event fields: without it, the device
    /// could read a stale event index while the driver reads a stale used index,
    /// and both would wait for each other forever.
    @inlinable
    public mutating func needsNotification(_ memory: some GuestMemory) throws(VirtioQueueError) -> Bool {
        try checkOperational()
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        switch format {
        case .split: return try splitNeedsNotification(memory)
        case .packed: return try packedNeedsNotification(memory)
        }
    }

    /// Asks the driver to notify the device when it makes buffers available, and
    /// returns whether some are already available (then process them: the driver
    /// may have added them before it could see the request, and will not notify).
    ///
    /// With event indices the device publishes ``nextAvailable`` as the index it
    /// wants to hear about; otherwise it clears its "no notify" flag. A full fence
    /// orders that store before re-reading the driver's index.
    @discardableResult
    public mutating func enableNotification(in memory: some GuestMemory) throws(VirtioQueueError) -> Bool {
        try checkOperational()
        switch format {
        case .split: try publishSplitNotificationRequest(memory)
        case .packed: try publishPackedNotificationRequest(slot: nextAvailable, wrap: availableWrapCounter, memory)
        }
        _notificationsEnabled = true
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        return try hasAvailable(in: memory)
    }

    /// Tells the driver the device does not need available buffer notifications
    /// (it is polling the ring). A hint: drivers may notify anyway.
    ///
    /// With split event indices nothing is written: the stale `avail_event` stops
    /// notifications by itself, and ``pop(from:)`` stops advancing it.
    @inlinable
    public mutating func disableNotification(in memory: some GuestMemory) throws(VirtioQueueError) {
        try checkOperational()
        switch format {
        case .split:
            if !eventIndexEnabled { try storeRing(.device, offset: 0, Layout.usedNoNotify, memory) }
        case .packed:
            try storeRing(.device, offset: 2, Layout.eventFlagsDisable, memory)
        }
        _notificationsEnabled = false
    }

    // MARK: Shared ring field access

    /// The guest address `offset` bytes into `area`. An unvalidated area near 2^64
    /// could wrap to low memory; that is refused instead of read.
    @inlinable
    func address(in area: QueueArea, offset: UInt64) throws(VirtioQueueError) -> GuestAddress {
        let base = range(of: area).address
        guard let address = base.checkedAdd(offset) else {
            throw .ringAccess(area, .addressOverflow(base, length: offset))
        }
        return address
    }

    /// An atomic store of a 16-bit ring field with release ordering: everything the
    /// device wrote before (used elements, buffer contents) is visible to a driver
    /// that reads this field with acquire ordering.
    @inlinable
    func storeRing(
        _ area: QueueArea, offset: UInt64, _ value: UInt16, _ memory: some GuestMemory
    )
        throws(VirtioQueueError)
    {
        let target = try address(in: area, offset: offset)
        do throws(GuestMemoryError) {
            try memory.atomicStore(value.littleEndian, at: target, ordering: .acquireRelease)
        } catch {
            throw .ringAccess(area, error)
        }
    }

    /// An atomic load of a 16-bit ring field with acquire ordering: reads that
    /// follow see everything the driver wrote before it stored this field.
    @inlinable
    func loadRing(_ area: QueueArea, offset: UInt64, _ memory: some GuestMemory) throws(VirtioQueueError) -> UInt16 {
        let source = try address(in: area, offset: offset)
        do throws(GuestMemoryError) {
            return UInt16(littleEndian: try memory.atomicLoad(UInt16.self, at: source, ordering: .acquireRelease))
        } catch {
            throw .ringAccess(area, error)
        }
    }

    /// A plain little-endian read of a ring field the device only needs a recent value of.
    @inlinable
    func readRing<T: FixedWidthInteger & BitwiseCopyable>(
        _: T.Type, _ area: QueueArea, offset: UInt64, _ memory: some GuestMemory
    ) throws(VirtioQueueError) -> T {
        let source = try address(in: area, offset: offset)
        do throws(GuestMemoryError) {
            return try memory.readLittleEndian(T.self, from: source)
        } catch {
            throw .ringAccess(area, error)
        }
    }

    /// A plain little-endian write of a ring field, published later by a release store.
    @inlinable
    func writeRing<T: FixedWidthInteger & BitwiseCopyable>(
        _ value: T, _ area: QueueArea, offset: UInt64, _ memory: some GuestMemory
    ) throws(VirtioQueueError) {
        let target = try address(in: area, offset: offset)
        do throws(GuestMemoryError) {
            try memory.writeLittleEndian(value, to: target)
        } catch {
            throw .ringAccess(area, error)
        }
    }
}
