// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

// Packed virtqueue (virtio 1.2, section 2.8). Guest memory layout, all little-endian:
//   descriptor ring     16 × size: le64 addr, le32 len, le16 id, le16 flags
//   driver area         le16 off_wrap (slot | wrap << 15), le16 flags  (driver → device hints)
//   device area         the same structure, written by the device
// A descriptor is available when its AVAIL bit equals the driver's wrap counter
// and its USED bit does not; the device marks it used by setting both bits to its
// own wrap counter. Each side flips its counter when it passes the ring's end.

extension Virtqueue {
    /// Whether packed descriptor `flags` mark an available descriptor for wrap counter `wrap`.
    @inlinable
    static func isAvailable(_ flags: UInt16, wrap: Bool) -> Bool {
        let available = flags & DescriptorFlags.available.rawValue != 0
        let used = flags & DescriptorFlags.used.rawValue != 0
        return available == wrap && used != wrap
    }

    /// Byte offset of the flags of ring slot `slot`.
    @inlinable
    static func packedFlagsOffset(_ slot: UInt16) -> UInt64 { Layout.descriptorSize * UInt64(slot) + 14 }

    /// Loads the flags of ring slot `slot` with acquire ordering: the driver writes
    /// a descriptor's other fields before its flags (with a write barrier), so the
    /// fields read after this load are the ones it meant to publish.
    @inlinable
    func packedSlotIsAvailable(
        _ slot: UInt16, wrap: Bool, _ memory: some GuestMemory
    ) throws(VirtioQueueError)
        -> Bool
    {
        guard slot < size else { throw .invalidState }
        return Self.isAvailable(try loadRing(.descriptors, offset: Self.packedFlagsOffset(slot), memory), wrap: wrap)
    }

    /// Where a packed walk stands: the next slot to read, its wrap counter, and
    /// how many slots the walk has read.
    @usableFromInline
    struct PackedCursor {
        @usableFromInline
        var slot: UInt16
        @usableFromInline
        var wrap: Bool
        @usableFromInline
        var count: UInt16

        @inlinable
        init(slot: UInt16, wrap: Bool, count: UInt16) {
            self.slot = slot
            self.wrap = wrap
            self.count = count
        }

        @inlinable
        mutating func advance(size: UInt16) {
            count += 1
            slot += 1
            if slot == size {
                slot = 0
                wrap.toggle()
            }
        }
    }

    @inlinable
    mutating func popPacked(_ memory: some GuestMemory) throws(VirtioQueueError) -> DescriptorChain? {
        guard try packedSlotIsAvailable(nextAvailable, wrap: availableWrapCounter, memory) else { return nil }
        let head = nextAvailable
        var cursor = PackedCursor(slot: nextAvailable, wrap: availableWrapCounter, count: 0)
        var chain: DescriptorChain?
        var failure: ChainError?
        do throws(VirtioQueueError) {
            chain = try readPackedChain(&cursor, memory)
        } catch {
            guard case .invalidChain(_, let reason) = error else { throw error }
            failure = reason
        }
        // Consume every slot the walk read, good chain or bad, so the next pop
        // starts after it and a bad chain is reported once. The event request is
        // stored first, so a failed store consumes nothing.
        if eventIndexEnabled && notificationsEnabled {
            try publishPackedNotificationRequest(slot: cursor.slot, wrap: cursor.wrap, memory)
        }
        _nextAvailable = cursor.slot
        _availableWrapCounter = cursor.wrap
        if let failure { throw .invalidChain(head: head, failure) }
        return chain
    }

    /// Walks the chain at `cursor` (whose first slot is known to be available).
    /// On return or on a chain fault, `cursor` has moved past every slot read.
    @inlinable
    func readPackedChain(
        _ cursor: inout PackedCursor, _ memory: some GuestMemory
    ) throws(VirtioQueueError)
        -> DescriptorChain
    {
        let head = cursor.slot
        func fail(_ reason: ChainError) -> VirtioQueueError { .invalidChain(head: head, reason) }
        var builder = ChainBuilder()
        var id: UInt16 = 0
        var indirect = false
        while true {
            let slot = cursor.slot
            let wrap = cursor.wrap
            let flagsWord = try loadRing(.descriptors, offset: Self.packedFlagsOffset(slot), memory)
            let place = try address(in: .descriptors, offset: Layout.descriptorSize * UInt64(slot))
            let descriptor: RawDescriptor
            do throws(GuestMemoryError) {
                descriptor = try RawDescriptor.read(at: place, packed: true, memory: memory)
            } catch {
                throw .ringAccess(.descriptors, error)
            }
            cursor.advance(size: size)
            // The driver publishes a chain's first descriptor last, so every later one
            // must already be available; one that is not means a corrupt chain.
            guard Self.isAvailable(flagsWord, wrap: wrap) else { throw fail(.descriptorNotAvailable(slot: slot)) }
            let flags = DescriptorFlags(rawValue: flagsWord)
            // The buffer id travels in the chain's last descriptor.
            id = descriptor.nextOrID
            if flags.contains(.indirect) {
                // An indirect descriptor is a whole buffer on its own: it neither
                // follows other descriptors nor continues with NEXT.
                guard cursor.count == 1 else { throw fail(.indirectInChain) }
                guard !flags.contains(.next) else { throw fail(.indirectWithNext) }
                do throws(ChainError) {
                    try appendPackedIndirectTable(descriptor, to: &builder, memory)
                } catch {
                    throw fail(error)
                }
                indirect = true
                break
            }
            do throws(ChainError) {
                try builder.append(
                    address: descriptor.address, length: descriptor.length, writable: flags.contains(.write),
                    memory: memory)
            } catch {
                throw fail(error)
            }
            guard flags.contains(.next) else { break }
            // A chain cannot be longer than the ring; a ring full of NEXT flags is corrupt.
            guard cursor.count < size else { throw fail(.chainTooLong(limit: UInt32(size))) }
        }
        return DescriptorChain(
            id: id, headIndex: head, ringDescriptorCount: cursor.count, isIndirect: indirect,
            descriptors: builder.descriptors)
    }

    /// Appends the buffers of a packed indirect table: entries in order, no `next`
    /// links, so the walk is bounded by the table length. Only WRITE is meaningful
    /// in an entry; the specification reserves the other flags and the id, and
    /// tells the device to ignore them.
    @inlinable
    func appendPackedIndirectTable(
        _ descriptor: RawDescriptor, to builder: inout ChainBuilder, _ memory: some GuestMemory
    ) throws(ChainError) {
        let entries = try ChainBuilder.indirectTable(at: descriptor.address, length: descriptor.length, memory: memory)
        for index in 0..<entries {
            let entry: RawDescriptor
            do throws(GuestMemoryError) {
                // Inside the table checked above: `index < entries`.
                entry = try RawDescriptor.read(
                    at: descriptor.address.wrappingAdd(Layout.descriptorSize * UInt64(index)), packed: true,
                    memory: memory)
            } catch {
                throw .descriptorRead(error)
            }
            try builder.append(
                address: entry.address, length: entry.length, writable: entry.flags.contains(.write), memory: memory)
        }
    }

    /// Writes a used descriptor at ``nextUsed``: `len` and `id` first, then the
    /// flags with release ordering, since the flags are what tells the driver the
    /// slot is used; a driver acquiring them sees `id`, `len` and the buffer data.
    @inlinable
    mutating func addUsedPacked(
        id: UInt16, count: UInt16, writtenLength: UInt32, _ memory: some GuestMemory
    ) throws(VirtioQueueError) {
        guard count >= 1, count <= size else { throw .invalidUsedCount(count, size: size) }
        guard nextUsed < size else { throw .invalidState }
        let base = Layout.descriptorSize * UInt64(nextUsed)
        try writeRing(writtenLength, .descriptors, offset: base + 8, memory)
        try writeRing(id, .descriptors, offset: base + 12, memory)
        var flags: UInt16 = usedWrapCounter ? DescriptorFlags.available.rawValue | DescriptorFlags.used.rawValue : 0
        // In a used descriptor WRITE says whether the device wrote into the buffer.
        if writtenLength > 0 { flags |= DescriptorFlags.write.rawValue }
        try storeRing(.descriptors, offset: Self.packedFlagsOffset(nextUsed), flags, memory)
        // The device skips the slots the buffer's other descriptors occupied.
        let end = UInt32(nextUsed) + UInt32(count)
        if end >= UInt32(size) {
            _nextUsed = UInt16(end - UInt32(size))
            _usedWrapCounter.toggle()
        } else {
            _nextUsed = UInt16(end)
        }
        if let moved = usedSinceCheck { usedSinceCheck = Swift.min(moved, 1 << 20) + UInt32(count) }
    }

    /// Packed ring notification decision from the driver event suppression
    /// structure; the caller has fenced.
    @inlinable
    mutating func packedNeedsNotification(_ memory: some GuestMemory) throws(VirtioQueueError) -> Bool {
        let moved = usedSinceCheck
        if moved == 0 { return false }  // nothing new for the driver since the last check
        // Flags are loaded with acquire ordering, then `off_wrap`, which the driver
        // writes before its flags.
        let flags = try loadRing(.driver, offset: 2, memory) & 0x3
        let offWrap = try readRing(UInt16.self, .driver, offset: 0, memory)
        usedSinceCheck = 0
        switch flags {
        case Layout.eventFlagsDisable:
            return false
        case Layout.eventFlagsDescriptor where eventIndexEnabled:
            // Unknown progress, or more than a lap: the comparison cannot tell, so notify.
            guard let moved, moved <= UInt32(size) else { return true }
            return EventIndex.needsPackedNotification(
                offWrap: offWrap, new: nextUsed, wrap: usedWrapCounter, moved: UInt16(moved), size: size)
        default:
            // Enabled; or a descriptor event without negotiated event indices, or the
            // reserved value 3: notify rather than risk a stalled driver.
            return true
        }
    }

    /// Asks for available buffer notifications: with event indices, one for the
    /// descriptor at `slot` with wrap counter `wrap` (the device's next one);
    /// otherwise all. `off_wrap` is stored before the flags that make the driver read it.
    @inlinable
    func publishPackedNotificationRequest(
        slot: UInt16, wrap: Bool, _ memory: some GuestMemory
    )
        throws(VirtioQueueError)
    {
        if eventIndexEnabled {
            let offWrap = slot | (wrap ? 0x8000 : 0)
            try storeRing(.device, offset: 0, offWrap, memory)
            try storeRing(.device, offset: 2, Layout.eventFlagsDescriptor, memory)
        } else {
            try storeRing(.device, offset: 2, Layout.eventFlagsEnable, memory)
        }
    }
}
