// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// The two virtqueue layouts of virtio 1.2.
///
/// The driver picks one for the whole device by negotiating `VIRTIO_F_RING_PACKED`.
public enum RingFormat: Sendable, Equatable {
    /// Section 2.7: descriptor table, available ring and used ring in three areas.
    case split
    /// Section 2.8: one descriptor ring shared by driver and device, plus two
    /// event suppression structures.
    case packed
}

/// The `flags` field of a virtqueue descriptor.
///
/// ```swift
/// let flags = DescriptorFlags(rawValue: 0x3)
/// print(flags.contains(.next), flags.contains(.write))  // true true
/// ```
public struct DescriptorFlags: OptionSet, Sendable, Hashable {
    /// The 16-bit flags as stored in guest memory.
    public var rawValue: UInt16

    /// Wraps raw flag bits.
    @inlinable
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The chain continues (split: at `next`; packed: in the following ring slot).
    @inlinable
    public static var next: DescriptorFlags { DescriptorFlags(rawValue: 1 << 0) }
    /// The buffer is device-writable (otherwise device-readable).
    @inlinable
    public static var write: DescriptorFlags { DescriptorFlags(rawValue: 1 << 1) }
    /// The buffer holds a table of indirect descriptors.
    @inlinable
    public static var indirect: DescriptorFlags { DescriptorFlags(rawValue: 1 << 2) }
    /// Packed ring: the driver's availability bit.
    @inlinable
    public static var available: DescriptorFlags { DescriptorFlags(rawValue: 1 << 7) }
    /// Packed ring: the device's used bit.
    @inlinable
    public static var used: DescriptorFlags { DescriptorFlags(rawValue: 1 << 15) }
}

/// One buffer of a descriptor chain, already validated against guest memory.
///
/// ```swift
/// for descriptor in chain where !descriptor.isWritable {
///     let bytes = try memory.read(count: Int(descriptor.length), from: descriptor.address)
/// }
/// ```
public struct ChainDescriptor: Sendable, Equatable {
    /// The guest physical address of the buffer.
    public var address: GuestAddress
    /// The buffer's length in bytes; `[address, address + length)` is mapped guest memory.
    public var length: UInt32
    /// Whether the device may write the buffer (otherwise it may only read it).
    public var isWritable: Bool

    /// Describes one buffer.
    @inlinable
    public init(address: GuestAddress, length: UInt32, isWritable: Bool) {
        self.address = address
        self.length = length
        self.isWritable = isWritable
    }
}

/// A descriptor chain the device popped from a virtqueue: the buffers of one
/// request, device-readable ones first, then device-writable ones.
///
/// The chain is read and checked completely when it is popped, so iterating it
/// never touches guest memory again and cannot fail: a driver rewriting
/// descriptors afterwards cannot change what the device already accepted.
///
/// ```swift
/// if let chain = try queue.pop(from: memory) {
///     for descriptor in chain.readable { print("read", descriptor.address, descriptor.length) }
///     for descriptor in chain.writable { print("write", descriptor.address, descriptor.length) }
///     try queue.addUsed(chain, writtenLength: 0, to: memory)
/// }
/// ```
public struct DescriptorChain: Sequence, Sendable, Equatable {
    /// What the device hands back in the used ring: the head descriptor index (split)
    /// or the buffer id (packed).
    public let id: UInt16
    /// Where the chain starts: the head's descriptor table index (split) or ring slot (packed).
    public let headIndex: UInt16
    /// How many descriptors of the table or ring the chain occupies (an indirect
    /// descriptor counts as one; its table entries do not).
    public let ringDescriptorCount: UInt16
    /// Whether the chain's buffers came (partly) from an indirect table.
    public let isIndirect: Bool
    /// The buffers, device-readable first.
    public let descriptors: [ChainDescriptor]
    /// How many of ``descriptors`` are device-readable.
    public let readableCount: Int

    /// Assembles a chain; ``Virtqueue`` builds these after checking every descriptor.
    @inlinable
    public init(
        id: UInt16, headIndex: UInt16, ringDescriptorCount: UInt16, isIndirect: Bool, descriptors: [ChainDescriptor]
    ) {
        self.id = id
        self.headIndex = headIndex
        self.ringDescriptorCount = ringDescriptorCount
        self.isIndirect = isIndirect
        self.descriptors = descriptors
        readableCount = descriptors.firstIndex { $0.isWritable } ?? descriptors.count
    }

    /// The device-readable buffers.
    @inlinable
    public var readable: ArraySlice<ChainDescriptor> { descriptors[..<readableCount] }
    /// The device-writable buffers.
    @inlinable
    public var writable: ArraySlice<ChainDescriptor> { descriptors[readableCount...] }
    /// Bytes the device may read (at most 2^32).
    @inlinable
    public var readableLength: UInt64 { readable.reduce(0) { $0 + UInt64($1.length) } }
    /// Bytes the device may write (at most 2^32).
    @inlinable
    public var writableLength: UInt64 { writable.reduce(0) { $0 + UInt64($1.length) } }

    /// Iterates the buffers, device-readable first.
    @inlinable
    public func makeIterator() -> IndexingIterator<[ChainDescriptor]> { descriptors.makeIterator() }
}

/// Field offsets and sizes of the ring structures (virtio 1.2, sections 2.7 and 2.8).
@usableFromInline
enum Layout {
    /// Bytes per descriptor, split or packed.
    @inlinable
    static var descriptorSize: UInt64 { 16 }
    /// Bytes per used ring element (`le32 id`, `le32 len`).
    @inlinable
    static var usedElementSize: UInt64 { 8 }
    /// `flags` and `idx` before the ring array of the available and used rings.
    @inlinable
    static var ringHeaderSize: UInt64 { 4 }
    /// Bytes of one packed event suppression structure.
    @inlinable
    static var eventSuppressionSize: UInt64 { 4 }

    /// Split available ring flag: the driver asks for no used buffer notifications.
    @inlinable
    static var availableNoInterrupt: UInt16 { 1 }
    /// Split used ring flag: the device asks for no available buffer notifications.
    @inlinable
    static var usedNoNotify: UInt16 { 1 }

    /// Packed event suppression flags (`desc_event_flags`).
    @inlinable
    static var eventFlagsEnable: UInt16 { 0 }
    @inlinable
    static var eventFlagsDisable: UInt16 { 1 }
    @inlinable
    static var eventFlagsDescriptor: UInt16 { 2 }

    /// The alignment the specification requires of `area` in `format`.
    @inlinable
    static func alignment(of area: QueueArea, format: RingFormat) -> UInt64 {
        switch (area, format) {
        case (.descriptors, _): return 16
        case (.driver, .split): return 2
        case (.device, .split): return 4
        case (_, .packed): return 4
        }
    }

    /// The byte length of `area` for a queue of `size` entries in `format`.
    @inlinable
    static func length(of area: QueueArea, format: RingFormat, size: UInt16) -> UInt64 {
        let entries = UInt64(size)
        switch (area, format) {
        case (.descriptors, _): return descriptorSize * entries
        case (.driver, .split): return ringHeaderSize + 2 * entries + 2
        case (.device, .split): return ringHeaderSize + usedElementSize * entries + 2
        case (_, .packed): return eventSuppressionSize
        }
    }
}
