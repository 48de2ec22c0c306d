// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

// Split virtqueue (virtio 1.2, section 2.7). Guest memory layout, all little-endian:
//   descriptor table  16 × size: le64 addr, le32 len, le16 flags, le16 next
//   available ring    le16 flags, le16 idx, le16 ring[size], le16 used_event
//   used ring         le16 flags, le16 idx, {le32 id, le32 len}[size], le16 avail_event
// `idx` fields run freely and wrap at 2^16; ring slots are `idx % size`.

extension Virtqueue {
    /// Offset of `used_event` in the available ring.
    @inlinable
    var usedEventOffset: UInt64 { Layout.ringHeaderSize + 2 * UInt64(size) }
    /// Offset of `avail_event` in the used ring.
    @inlinable
    var availableEventOffset: UInt64 { Layout.ringHeaderSize + Layout.usedElementSize * UInt64(size) }

    /// The driver's available index, loaded with acquire ordering. The driver
    /// writes ring entries and descriptors, then (after a write barrier) the
    /// index; acquiring it means every read of those entries made after this
    /// load sees the values written before the index moved.
    @inlinable
    func splitAvailableIndex(_ memory: some GuestMemory) throws(VirtioQueueError) -> UInt16 {
        try loadRing(.driver, offset: 2, memory)
    }

    @inlinable
    mutating func popSplit(_ memory: some GuestMemory) throws(VirtioQueueError) -> DescriptorChain? {
        let available = try splitAvailableIndex(memory)
        let pending = available &- nextAvailable
        if pending == 0 { return nil }
        // A driver can offer at most `size` chains the device has not taken; more
        // means a corrupt index, and trusting it would replay stale ring entries.
        guard pending <= size else {
            throw .availableIndexJump(next: nextAvailable, available: available, size: size)
        }
        let slot = UInt64(nextAvailable % size)
        let head = try readRing(UInt16.self, .driver, offset: Layout.ringHeaderSize + 2 * slot, memory)
        var chain: DescriptorChain?
        var failure: ChainError?
        do throws(VirtioQueueError) {
            chain = try readSplitChain(head: head, memory)
        } catch {
            guard case .invalidChain(_, let reason) = error else { throw error }
            failure = reason
        }
        // The entry is consumed whether the chain was good or not: a bad chain is
        // reported once, and the next pop moves on to the next entry.
        let next = nextAvailable &+ 1
        if eventIndexEnabled && notificationsEnabled {
            // Ask for a notification as soon as the driver offers the entry after
            // this one; `enableNotification` repeats this with a fence when idle.
            // Stored before the index moves, so a failed store consumes nothing.
            try storeRing(.device, offset: availableEventOffset, next, memory)
        }
        _nextAvailable = next
        if let failure { throw .invalidChain(head: head, failure) }
        return chain
    }

    /// Walks the chain starting at descriptor `head`; chain faults throw
    /// `.invalidChain`, faults reading the descriptor table throw `.ringAccess`.
    @inlinable
    func readSplitChain(head: UInt16, _ memory: some GuestMemory) throws(VirtioQueueError) -> DescriptorChain {
        let tableSize = UInt32(size)
        func fail(_ reason: ChainError) -> VirtioQueueError { .invalidChain(head: head, reason) }
        guard UInt32(head) < tableSize else { throw fail(.indexOutOfRange(index: UInt32(head), tableSize: tableSize)) }
        var builder = ChainBuilder()
        var index = head
        var visited: UInt32 = 0
        var indirect = false
        while true {
            // Each descriptor of the table can appear once in a well-formed chain,
            // so more than `size` steps means a loop: stop there, whatever `next` says.
            guard visited < tableSize else { throw fail(.chainTooLong(limit: tableSize)) }
            visited += 1
            let place = try descriptorAddress(index)
            let descriptor: RawDescriptor
            do throws(GuestMemoryError) {
                descriptor = try RawDescriptor.read(at: place, packed: false, memory: memory)
            } catch {
                throw .ringAccess(.descriptors, error)
            }
            if descriptor.flags.contains(.indirect) {
                // An indirect descriptor ends the chain: it may follow direct ones,
                // but it cannot continue with NEXT.
                guard !descriptor.flags.contains(.next) else { throw fail(.indirectWithNext) }
                do throws(ChainError) {
                    try appendSplitIndirectTable(descriptor, to: &builder, memory)
                } catch {
                    throw fail(error)
                }
                indirect = true
                break
            }
            do throws(ChainError) {
                try builder.append(
                    address: descriptor.address, length: descriptor.length,
                    writable: descriptor.flags.contains(.write), memory: memory)
            } catch {
                throw fail(error)
            }
            guard descriptor.flags.contains(.next) else { break }
            guard UInt32(descriptor.nextOrID) < tableSize else {
                throw fail(.indexOutOfRange(index: UInt32(descriptor.nextOrID), tableSize: tableSize))
            }
            index = descriptor.nextOrID
        }
        return DescriptorChain(
            id: head, headIndex: head, ringDescriptorCount: UInt16(visited), isIndirect: indirect,
            descriptors: builder.descriptors)
    }

    /// The guest address of descriptor `index` of the split table.
    @inlinable
    func descriptorAddress(_ index: UInt16) throws(VirtioQueueError) -> GuestAddress {
        try address(in: .descriptors, offset: Layout.descriptorSize * UInt64(index))
    }

    /// Appends the buffers of the split indirect table `descriptor` points at. The
    /// table is chained by `next` like the main table, from entry 0, and bounded
    /// the same way: at most `entries` steps.
    @inlinable
    func appendSplitIndirectTable(
        _ descriptor: RawDescriptor, to builder: inout ChainBuilder, _ memory: some GuestMemory
    ) throws(ChainError) {
        let entries = try ChainBuilder.indirectTable(at: descriptor.address, length: descriptor.length, memory: memory)
        var index: UInt32 = 0
        var visited: UInt32 = 0
        while true {
            guard visited < entries else { throw .chainTooLong(limit: entries) }
            visited += 1
            let entry: RawDescriptor
            do throws(GuestMemoryError) {
                // The table was checked to lie in memory and `index < entries`, so this
                // stays inside it; a failure would mean the memory map changed.
                entry = try RawDescriptor.read(
                    at: descriptor.address.wrappingAdd(Layout.descriptorSize * UInt64(index)), packed: false,
                    memory: memory)
            } catch {
                throw .descriptorRead(error)
            }
            guard !entry.flags.contains(.indirect) else { throw .nestedIndirect }
            try builder.append(
                address: entry.address, length: entry.length, writable: entry.flags.contains(.write), memory: memory)
            guard entry.flags.contains(.next) else { return }
            guard UInt32(entry.nextOrID) < entries else {
                throw .indexOutOfRange(index: UInt32(entry.nextOrID), tableSize: entries)
            }
            index = UInt32(entry.nextOrID)
        }
    }

    /// Writes used element (`id`, `writtenLength`) at `nextUsed % size`, then stores
    /// the new used index with release ordering, so a driver that acquires the
    /// index sees the element and the buffer contents the device wrote before.
    @inlinable
    mutating func addUsedSplit(id: UInt16, writtenLength: UInt32, _ memory: some GuestMemory) throws(VirtioQueueError) {
        guard id < size else { throw .invalidUsedId(UInt32(id), size: size) }
        let element = Layout.ringHeaderSize + Layout.usedElementSize * UInt64(nextUsed % size)
        try writeRing(UInt32(id), .device, offset: element, memory)
        try writeRing(writtenLength, .device, offset: element + 4, memory)
        let next = nextUsed &+ 1
        try storeRing(.device, offset: 2, next, memory)
        _nextUsed = next
        if let moved = usedSinceCheck { usedSinceCheck = Swift.min(moved, 1 << 20) + 1 }
    }

    /// Split ring notification decision; the caller has fenced.
    @inlinable
    mutating func splitNeedsNotification(_ memory: some GuestMemory) throws(VirtioQueueError) -> Bool {
        let moved = usedSinceCheck
        if moved == 0 { return false }  // nothing new for the driver since the last check
        if eventIndexEnabled {
            let usedEvent = try readRing(UInt16.self, .driver, offset: usedEventOffset, memory)
            usedSinceCheck = 0
            // Unknown progress, or a full 2^16 lap since the last check: the 16-bit
            // comparison cannot tell, so notify.
            guard let moved, moved < 1 << 16 else { return true }
            return EventIndex.needsNotification(event: usedEvent, new: nextUsed, old: nextUsed &- UInt16(moved))
        }
        let flags = try readRing(UInt16.self, .driver, offset: 0, memory)
        usedSinceCheck = 0
        return flags & Layout.availableNoInterrupt == 0
    }

    /// Asks for available buffer notifications: `avail_event = nextAvailable` with
    /// event indices, otherwise a cleared `VIRTQ_USED_F_NO_NOTIFY`.
    @inlinable
    func publishSplitNotificationRequest(_ memory: some GuestMemory) throws(VirtioQueueError) {
        if eventIndexEnabled {
            try storeRing(.device, offset: availableEventOffset, nextAvailable, memory)
        } else {
            try storeRing(.device, offset: 0, 0, memory)
        }
    }
}
