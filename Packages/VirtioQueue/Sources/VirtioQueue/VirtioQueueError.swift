// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// The three guest memory areas of a virtqueue.
///
/// The virtio specification names them by role: the driver writes the driver
/// area, the device writes the device area. For a split ring they hold the
/// descriptor table, the available ring and the used ring; for a packed ring the
/// descriptor ring and the two event suppression structures.
public enum QueueArea: Sendable, Equatable, CustomStringConvertible {
    /// Split: descriptor table. Packed: descriptor ring.
    case descriptors
    /// Split: available ring. Packed: driver event suppression.
    case driver
    /// Split: used ring. Packed: device event suppression.
    case device

    /// The area's name as the specification spells it.
    public var description: String {
        switch self {
        case .descriptors: return "descriptor area"
        case .driver: return "driver area"
        case .device: return "device area"
        }
    }
}

/// Why one descriptor chain offered by the driver was refused.
///
/// Every value here comes from guest memory, so each malformed layout a guest
/// can write maps to one case instead of a trap, a hang or an out-of-bounds read.
///
/// ```swift
/// if case .invalidChain(let head, .readableAfterWritable) = error {
///     print("chain \(head) puts a device-readable buffer after a writable one")
/// }
/// ```
public enum ChainError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A descriptor index (a split head, a `next` field) is outside its table.
    case indexOutOfRange(index: UInt32, tableSize: UInt32)
    /// More descriptors than the table (or ring) holds: the chain loops or is too long.
    case chainTooLong(limit: UInt32)
    /// A descriptor inside an indirect table is itself indirect (only one level is allowed).
    case nestedIndirect
    /// An indirect descriptor also has the NEXT flag (the specification forbids the pair).
    case indirectWithNext
    /// Packed ring: an indirect descriptor follows other descriptors of the same chain.
    case indirectInChain
    /// An indirect table's length is zero or not a multiple of 16 bytes.
    case indirectTableLength(UInt32)
    /// An indirect table has more than ``Virtqueue/maximumIndirectEntries`` entries.
    case indirectTableTooLarge(entries: UInt32)
    /// An indirect table does not lie in guest memory.
    case indirectTableNotInMemory(GuestAddress, length: UInt32)
    /// A device-readable descriptor comes after a device-writable one.
    case readableAfterWritable
    /// `address + length` of a buffer passes 2^64.
    case bufferOverflow(GuestAddress, length: UInt32)
    /// A buffer is not (wholly) inside guest memory.
    case bufferNotInMemory(GuestAddress, length: UInt32)
    /// The buffers add up to more than 2^32 bytes.
    case totalLengthTooLarge(UInt64)
    /// Packed ring: a descriptor announced by NEXT is not marked available.
    case descriptorNotAvailable(slot: UInt16)
    /// A descriptor could not be read from guest memory.
    case descriptorRead(GuestMemoryError)

    /// One line naming the fault and its values.
    public var description: String {
        switch self {
        case .indexOutOfRange(let index, let tableSize):
            return "descriptor index \(index) is outside a table of \(tableSize) entries"
        case .chainTooLong(let limit):
            return "chain has more than \(limit) descriptors (a loop or an over-long chain)"
        case .nestedIndirect:
            return "indirect descriptor inside an indirect table"
        case .indirectWithNext:
            return "indirect descriptor with the NEXT flag"
        case .indirectInChain:
            return "indirect descriptor after other descriptors of a packed chain"
        case .indirectTableLength(let length):
            return "indirect table length \(length) is zero or not a multiple of 16"
        case .indirectTableTooLarge(let entries):
            return "indirect table of \(entries) entries is too large"
        case .indirectTableNotInMemory(let address, let length):
            return "indirect table at \(address) of \(length) bytes is not in guest memory"
        case .readableAfterWritable:
            return "device-readable descriptor after a device-writable one"
        case .bufferOverflow(let address, let length):
            return "buffer at \(address) of \(length) bytes wraps past 2^64"
        case .bufferNotInMemory(let address, let length):
            return "buffer at \(address) of \(length) bytes is not in guest memory"
        case .totalLengthTooLarge(let total):
            return "chain buffers add up to \(total) bytes, more than 2^32"
        case .descriptorNotAvailable(let slot):
            return "descriptor \(slot) continues a chain but is not available"
        case .descriptorRead(let error):
            return "descriptor read failed: \(error)"
        }
    }
}

/// Why a virtqueue operation was refused.
///
/// Configuration errors come from what the driver programmed through the
/// transport; ring errors from the shared rings; chain errors from one
/// descriptor chain. None of them traps. After a chain error the queue has moved
/// past the bad chain (see ``Virtqueue/pop(from:)``); after a ring error it has
/// not moved. Devices usually answer any of them by setting `DEVICE_NEEDS_RESET`.
///
/// ```swift
/// do {
///     while let chain = try queue.pop(from: memory) { handle(chain) }
/// } catch .invalidChain(let head, let reason) {
///     print("driver offered a bad chain at \(head): \(reason)")
/// } catch {
///     print("queue broken: \(error)")
/// }
/// ```
public enum VirtioQueueError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The maximum size a device offers must be 1...32768.
    case invalidMaximumSize(UInt16)
    /// The size the driver chose is zero, above the maximum, or (split) not a power of two.
    case invalidSize(UInt16, maximum: UInt16, format: RingFormat)
    /// An area's guest address does not have the alignment the specification requires.
    case misalignedArea(QueueArea, GuestAddress, alignment: UInt64)
    /// An area's end would pass 2^64.
    case areaOverflow(QueueArea, GuestAddress, length: UInt64)
    /// An area is not wholly inside guest memory.
    case areaNotInMemory(QueueArea, GuestAddress, length: UInt64)
    /// Two areas share bytes: the device's used-ring writes would rewrite what the driver
    /// offers (and a hostile ring could keep the device serving itself forever).
    case overlappingAreas(QueueArea, QueueArea)
    /// The queue is not ready (the driver has not enabled it).
    case notReady
    /// The operation belongs to the other ring format (``Virtqueue/format``).
    case wrongFormat(RingFormat)
    /// A saved state cannot describe a queue (a packed index past the ring, for example).
    case invalidState
    /// Reading or writing a ring field failed.
    case ringAccess(QueueArea, GuestMemoryError)
    /// Split ring: the driver's available index ran more than a queue size ahead of the device.
    case availableIndexJump(next: UInt16, available: UInt16, size: UInt16)
    /// One descriptor chain is malformed; `head` is its first descriptor (split: table
    /// index, packed: ring slot).
    case invalidChain(head: UInt16, ChainError)
    /// The device returned an id that cannot name a descriptor chain of this queue.
    case invalidUsedId(UInt32, size: UInt16)
    /// Packed ring: a used buffer must cover 1...size ring descriptors.
    case invalidUsedCount(UInt16, size: UInt16)
    /// A read or write through a ``DescriptorChainReader`` or ``DescriptorChainWriter``
    /// asked for more bytes than the chain has left.
    case chainExhausted(requested: UInt64, remaining: UInt64)
    /// Copying buffer data failed in guest memory.
    case bufferAccess(GuestMemoryError)

    /// One line naming the fault and its values.
    public var description: String {
        switch self {
        case .invalidMaximumSize(let maximum):
            return "maximum queue size \(maximum) is not in 1...32768"
        case .invalidSize(let size, let maximum, let format):
            return format == .split
                ? "queue size \(size) is not a power of two in 1...\(maximum)"
                : "queue size \(size) is not in 1...\(maximum)"
        case .misalignedArea(let area, let address, let alignment):
            return "\(area) at \(address) is not aligned to \(alignment) bytes"
        case .areaOverflow(let area, let address, let length):
            return "\(area) at \(address) of \(length) bytes wraps past 2^64"
        case .areaNotInMemory(let area, let address, let length):
            return "\(area) at \(address) of \(length) bytes is not in guest memory"
        case .overlappingAreas(let first, let second):
            return "\(first) and \(second) overlap"
        case .notReady:
            return "queue is not ready"
        case .wrongFormat(let format):
            return format == .split ? "operation needs a packed ring" : "operation needs a split ring"
        case .invalidState:
            return "saved queue state is inconsistent"
        case .ringAccess(let area, let error):
            return "\(area) access failed: \(error)"
        case .availableIndexJump(let next, let available, let size):
            return "available index \(available) is more than \(size) entries ahead of \(next)"
        case .invalidChain(let head, let reason):
            return "descriptor chain at \(head): \(reason)"
        case .invalidUsedId(let id, let size):
            return "used id \(id) is not a descriptor of a queue of \(size) entries"
        case .invalidUsedCount(let count, let size):
            return "used buffer of \(count) descriptors is not in 1...\(size)"
        case .chainExhausted(let requested, let remaining):
            return "\(requested) bytes requested but the chain has \(remaining) left"
        case .bufferAccess(let error):
            return "buffer access failed: \(error)"
        }
    }
}
