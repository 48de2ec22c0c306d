// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// Collects the buffers of one chain while its descriptors are walked, applying
/// the checks every buffer must pass whatever ring it came from.
@usableFromInline
struct ChainBuilder {
    /// The chain's total may reach 2^32 bytes but not pass it (virtio 1.2, 2.7.5).
    @inlinable
    static var totalLengthLimit: UInt64 { 1 << 32 }

    @usableFromInline
    var descriptors: [ChainDescriptor] = []
    @usableFromInline
    var sawWritable = false
    @usableFromInline
    var total: UInt64 = 0

    @inlinable
    init() {}

    /// Checks one buffer and appends it. In order: readable after writable, then
    /// the buffer's range against 2^64 and guest memory, then the chain's total.
    @inlinable
    mutating func append(
        address: GuestAddress, length: UInt32, writable: Bool, memory: some GuestMemory
    ) throws(ChainError) {
        if writable {
            sawWritable = true
        } else if sawWritable {
            throw .readableAfterWritable
        }
        if length > 0 {
            do throws(GuestMemoryError) {
                try memory.checkRange(at: address, length: UInt64(length))
            } catch {
                if case .addressOverflow = error { throw .bufferOverflow(address, length: length) }
                throw .bufferNotInMemory(address, length: length)
            }
        }
        // At most 2^16 + 2^15 buffers of < 2^32 bytes each: the sum cannot overflow 64 bits.
        total += UInt64(length)
        guard total <= Self.totalLengthLimit else { throw .totalLengthTooLarge(total) }
        descriptors.append(ChainDescriptor(address: address, length: length, isWritable: writable))
    }

    /// Checks an indirect table's length and place; returns its entry count.
    @inlinable
    static func indirectTable(
        at address: GuestAddress, length: UInt32, memory: some GuestMemory
    ) throws(ChainError) -> UInt32 {
        guard length > 0, length % UInt32(Layout.descriptorSize) == 0 else { throw .indirectTableLength(length) }
        let entries = length / UInt32(Layout.descriptorSize)
        guard entries <= Virtqueue.maximumIndirectEntries else { throw .indirectTableTooLarge(entries: entries) }
        do throws(GuestMemoryError) {
            try memory.checkRange(at: address, length: UInt64(length))
        } catch {
            throw .indirectTableNotInMemory(address, length: length)
        }
        return entries
    }
}

/// The fields of one descriptor as read from guest memory. Split descriptors
/// carry `next`; packed ones carry a buffer `id` in the same two bytes.
@usableFromInline
struct RawDescriptor {
    @usableFromInline
    var address: GuestAddress
    @usableFromInline
    var length: UInt32
    @usableFromInline
    var flags: DescriptorFlags
    /// Split: `next`. Packed: `id`.
    @usableFromInline
    var nextOrID: UInt16

    @inlinable
    init(address: GuestAddress, length: UInt32, flags: DescriptorFlags, nextOrID: UInt16) {
        self.address = address
        self.length = length
        self.flags = flags
        self.nextOrID = nextOrID
    }

    /// Reads the 16-byte descriptor at `address` as two little-endian words:
    /// `addr`, then `len | word12 << 32 | word14 << 48`. `packed` swaps the two
    /// 16-bit words (split: flags at 12, next at 14; packed: id at 12, flags at 14).
    @inlinable
    static func read(
        at address: GuestAddress, packed: Bool, memory: some GuestMemory
    ) throws(GuestMemoryError) -> RawDescriptor {
        guard let upper = address.checkedAdd(8) else {
            throw .addressOverflow(address, length: Layout.descriptorSize)
        }
        let first = try memory.readLittleEndian(UInt64.self, from: address)
        let second = try memory.readLittleEndian(UInt64.self, from: upper)
        let word12 = UInt16(truncatingIfNeeded: second >> 32)
        let word14 = UInt16(truncatingIfNeeded: second >> 48)
        return RawDescriptor(
            address: GuestAddress(first), length: UInt32(truncatingIfNeeded: second),
            flags: DescriptorFlags(rawValue: packed ? word14 : word12), nextOrID: packed ? word12 : word14)
    }
}
