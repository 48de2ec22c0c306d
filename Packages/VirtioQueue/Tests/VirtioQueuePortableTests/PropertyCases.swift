// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMMemory
import VirtioQueue

// Seeded random drivers write valid and hostile chains into guest memory; a
// reference model, working on the driver's own arrays rather than on guest
// memory, predicts each pop (the buffers, or the exact error) and the used ring.

/// One descriptor as the driver meant it; `word` is `next` (split) or `id` (packed).
struct ModelDescriptor: Equatable {
    var address: UInt64 = 0
    var length: UInt32 = 0
    var flags: UInt16 = 0
    var word: UInt16 = 0
}

/// What the model predicts a pop returns.
enum Outcome: Equatable {
    case chain(id: UInt16, descriptors: [ChainDescriptor], count: UInt16, indirect: Bool)
    case error(ChainError)
}

/// Indirect tables live at `tableBase`, `tableSpacing` apart; the model keeps that
/// memory as a flat array of descriptors (zero where nothing was written).
let tableBase: UInt64 = 0x20_0000
let tableSpacing: UInt64 = 0x2000
let tableCount = 4
let entriesPerTable = Int(tableSpacing / 16)

/// The checks shared by both models, written from the specification's rules.
struct ModelChain {
    var descriptors: [ChainDescriptor] = []
    var sawWritable = false
    var total: UInt64 = 0

    mutating func add(_ address: UInt64, _ length: UInt32, writable: Bool) -> ChainError? {
        if writable {
            sawWritable = true
        } else if sawWritable {
            return .readableAfterWritable
        }
        if let fault = modelRangeFault(address, length) { return fault }
        total += UInt64(length)
        if total > 1 << 32 { return .totalLengthTooLarge(total) }
        descriptors.append(ChainDescriptor(address: GuestAddress(address), length: length, isWritable: writable))
        return nil
    }
}

/// The checks on an indirect descriptor before its table is read; nil when fine.
func modelIndirectFault(_ descriptor: ModelDescriptor) -> ChainError? {
    if descriptor.length == 0 || descriptor.length % 16 != 0 { return .indirectTableLength(descriptor.length) }
    if descriptor.length / 16 > 65536 { return .indirectTableTooLarge(entries: descriptor.length / 16) }
    if modelRangeFault(descriptor.address, descriptor.length) != nil {
        return .indirectTableNotInMemory(GuestAddress(descriptor.address), length: descriptor.length)
    }
    return nil
}

/// The `count` table entries at `address`: from the model's table memory, or zero
/// elsewhere (the generator writes nothing else outside the rings).
func modelEntries(_ tables: [ModelDescriptor], at address: UInt64, count: Int) -> [ModelDescriptor] {
    var entries: [ModelDescriptor] = []
    for index in 0..<count {
        let place = address &+ 16 &* UInt64(index)
        if place >= tableBase, place < tableBase + UInt64(tables.count) * 16 {
            entries.append(tables[Int((place - tableBase) / 16)])
        } else {
            entries.append(ModelDescriptor())
        }
    }
    return entries
}

/// A buffer somewhere: usually valid, sometimes (when `hostile`) outside memory,
/// past 2^64, straddling a region end, or absurdly long.
func randomBuffer(_ random: inout SplitMix64, hostile: Bool) -> (UInt64, UInt32) {
    if hostile {
        switch random.next() % 5 {
        case 0: return (hole + random.next() % 0x1000, UInt32(1 + random.next() % 64))
        case 1: return (UInt64.max - random.next() % 64, UInt32(1 + random.next() % 128))
        case 2: return (ramSize - random.next() % 64, UInt32(random.next() % 128))
        case 3: return (highStart + random.next() % highSize, UInt32(random.next() % 0x2000))
        default: return (0x4_0000 + random.next() % 0x1000, UInt32(truncatingIfNeeded: random.next()))
        }
    }
    return (0x4_0000 + random.next() % 0x10_0000, UInt32(random.next() % 0x1000))
}

/// `count` entries for an indirect table: a valid chain (split: from entry 0
/// through the others in a random order; packed: in order), readable entries first.
func randomTableEntries(_ random: inout SplitMix64, count: Int, packed: Bool, writableFrom: Int) -> [ModelDescriptor] {
    var rest = Array(1..<Swift.max(count, 1))
    if !packed { rest.shuffle(using: &random) }
    let order = [0] + rest
    var entries = [ModelDescriptor](repeating: ModelDescriptor(), count: count)
    for (position, slot) in order.enumerated() {
        let (address, length) = randomBuffer(&random, hostile: false)
        var flags: UInt16 = position >= writableFrom ? flagWrite : 0
        var next: UInt16 = 0
        if !packed && position + 1 < count {
            flags |= flagNext
            next = UInt16(order[position + 1])
        }
        entries[slot] = ModelDescriptor(address: address, length: length, flags: flags, word: next)
    }
    return entries
}

/// Indirect tables hold at most 6 meaningful entries; the 8 first entries of each
/// table are rewritten every round (the rest stay zero in memory and model).
let writtenEntries = 8

// MARK: Split

/// The split reference: walks the driver's table array by the rules of section 2.7.
struct SplitModel {
    var table: [ModelDescriptor]
    var tables: [ModelDescriptor]

    func pop(head: UInt16) -> Outcome {
        let size = UInt32(table.count)
        if UInt32(head) >= size { return .error(.indexOutOfRange(index: UInt32(head), tableSize: size)) }
        var chain = ModelChain()
        var index = Int(head)
        var steps: UInt32 = 0
        while true {
            if steps == size { return .error(.chainTooLong(limit: size)) }
            steps += 1
            let descriptor = table[index]
            if descriptor.flags & flagIndirect != 0 {
                if descriptor.flags & flagNext != 0 { return .error(.indirectWithNext) }
                if let fault = modelIndirectFault(descriptor) { return .error(fault) }
                let count = descriptor.length / 16
                let entries = modelEntries(tables, at: descriptor.address, count: Int(count))
                var entry = 0
                var entrySteps: UInt32 = 0
                while true {
                    if entrySteps == count { return .error(.chainTooLong(limit: count)) }
                    entrySteps += 1
                    let item = entries[entry]
                    if item.flags & flagIndirect != 0 { return .error(.nestedIndirect) }
                    if let fault = chain.add(item.address, item.length, writable: item.flags & flagWrite != 0) {
                        return .error(fault)
                    }
                    if item.flags & flagNext == 0 { break }
                    if UInt32(item.word) >= count {
                        return .error(.indexOutOfRange(index: UInt32(item.word), tableSize: count))
                    }
                    entry = Int(item.word)
                }
                return .chain(id: head, descriptors: chain.descriptors, count: UInt16(steps), indirect: true)
            }
            if let fault = chain.add(descriptor.address, descriptor.length, writable: descriptor.flags & flagWrite != 0)
            {
                return .error(fault)
            }
            if descriptor.flags & flagNext == 0 {
                return .chain(id: head, descriptors: chain.descriptors, count: UInt16(steps), indirect: false)
            }
            if UInt32(descriptor.word) >= size {
                return .error(.indexOutOfRange(index: UInt32(descriptor.word), tableSize: size))
            }
            index = Int(descriptor.word)
        }
    }
}

/// Builds a table of disjoint valid chains (some ending in an indirect table),
/// then, in hostile rounds, breaks a few fields. Returns the chain heads.
func randomSplitRound(
    _ random: inout SplitMix64, size: Int, hostile: Bool, model: inout SplitModel
) -> [UInt16] {
    var order = Array(0..<size)
    order.shuffle(using: &random)
    var heads: [UInt16] = []
    var tableUse = 0
    model.tables = [ModelDescriptor](repeating: ModelDescriptor(), count: tableCount * entriesPerTable)
    var position = 0
    while position < size {
        let length = Swift.min(size - position, 1 + Int(random.next() % 4))
        let members = Array(order[position..<position + length])
        position += length
        heads.append(UInt16(members[0]))
        let indirectEnd = tableUse < tableCount && random.next() % 4 == 0
        let direct = indirectEnd ? length - 1 : length
        let entryCount = indirectEnd ? 1 + Int(random.next() % 6) : 0
        let writableFrom = Int(random.next() % UInt64(direct + entryCount + 1))
        for (offset, index) in members.enumerated() {
            let (address, bufferLength) = randomBuffer(&random, hostile: false)
            var descriptor = ModelDescriptor(address: address, length: bufferLength, flags: 0, word: 0)
            if offset < direct {
                if offset >= writableFrom { descriptor.flags |= flagWrite }
                if offset + 1 < length {
                    descriptor.flags |= flagNext
                    descriptor.word = UInt16(members[offset + 1])
                }
            } else {
                // The indirect descriptor closing the chain.
                let base = tableBase + UInt64(tableUse) * tableSpacing
                let entries = randomTableEntries(
                    &random, count: entryCount, packed: false, writableFrom: Swift.max(0, writableFrom - direct))
                for (entryIndex, entry) in entries.enumerated() {
                    model.tables[tableUse * entriesPerTable + entryIndex] = entry
                }
                descriptor = ModelDescriptor(
                    address: base, length: UInt32(entryCount * 16),
                    flags: flagIndirect | (random.next() % 2 == 0 ? 0 : flagWrite),
                    word: 0)
                tableUse += 1
            }
            model.table[index] = descriptor
        }
    }
    heads.shuffle(using: &random)
    if hostile {
        for _ in 0..<(1 + random.next() % 3) {
            let inTable = tableUse > 0 && random.next() % 3 == 0
            let slot =
                inTable
                ? Int(random.next() % UInt64(tableUse)) * entriesPerTable + Int(random.next() % 6)
                : Int(random.next() % UInt64(size))
            var descriptor = inTable ? model.tables[slot] : model.table[slot]
            switch random.next() % 6 {
            case 0: descriptor.flags ^= [flagNext, flagWrite, flagIndirect][Int(random.next() % 3)]
            case 1: descriptor.word = UInt16(random.next() % UInt64(size + 2))
            case 2: (descriptor.address, descriptor.length) = randomBuffer(&random, hostile: true)
            case 3: descriptor.length = [0, 24, 16 * 65537, 16 * 300][Int(random.next() % 4)]
            case 4: descriptor.address = [hole, UInt64.max - 15, 0x4_0000][Int(random.next() % 3)]
            default: heads[Int(random.next() % UInt64(heads.count))] = UInt16(random.next() % UInt64(size + 2))
            }
            if inTable { model.tables[slot] = descriptor } else { model.table[slot] = descriptor }
        }
    }
    return heads
}

/// Writes the model's table and indirect tables into guest memory.
func writeSplitModel(_ model: SplitModel, _ driver: SplitDriver) throws(TestFailure) {
    for (index, descriptor) in model.table.enumerated() {
        try driver.descriptor(
            UInt16(index), address: descriptor.address, length: descriptor.length, flags: descriptor.flags,
            next: descriptor.word)
    }
    for (index, entry) in model.tables.enumerated() where index % entriesPerTable < writtenEntries {
        try driver.write(
            at: tableBase + 16 * UInt64(index), address: entry.address, length: entry.length, flags: entry.flags,
            next: entry.word)
    }
}

/// What a pop did, as an ``Outcome`` (nil: nothing available), and the chain itself.
func outcome(
    of body: () throws(VirtioQueueError) -> DescriptorChain?
) throws(TestFailure) -> (Outcome?, DescriptorChain?) {
    do throws(VirtioQueueError) {
        guard let chain = try body() else { return (nil, nil) }
        let outcome = Outcome.chain(
            id: chain.id, descriptors: chain.descriptors, count: chain.ringDescriptorCount, indirect: chain.isIndirect)
        return (outcome, chain)
    } catch {
        guard case .invalidChain(_, let reason) = error else {
            throw TestFailure("pop failed with a ring error", file: #filePath, line: #line)
        }
        return (.error(reason), nil)
    }
}

// MARK: Packed

/// The packed reference: walks the model ring by the rules of section 2.8,
/// keeping the device's positions, and applies the device's used writes.
struct PackedModel {
    var ring: [ModelDescriptor]
    var tables: [ModelDescriptor]
    var availableSlot: UInt16 = 0
    var availableWrap = true
    var usedSlot: UInt16 = 0
    var usedWrap = true

    static func isAvailable(_ flags: UInt16, _ wrap: Bool) -> Bool {
        (flags & flagAvail != 0) == wrap && (flags & flagUsed != 0) != wrap
    }

    /// The next pop's outcome and the slots it consumes, or nil when the head is not available.
    mutating func pop() -> (outcome: Outcome, consumed: UInt16, head: UInt16)? {
        let size = UInt16(ring.count)
        guard Self.isAvailable(ring[Int(availableSlot)].flags, availableWrap) else { return nil }
        let head = availableSlot
        var chain = ModelChain()
        var count: UInt16 = 0
        func finish(_ outcome: Outcome) -> (outcome: Outcome, consumed: UInt16, head: UInt16) {
            (outcome, count, head)
        }
        while true {
            let slot = availableSlot
            let descriptor = ring[Int(slot)]
            let wrap = availableWrap
            count += 1
            availableSlot += 1
            if availableSlot == size {
                availableSlot = 0
                availableWrap.toggle()
            }
            if !Self.isAvailable(descriptor.flags, wrap) { return finish(.error(.descriptorNotAvailable(slot: slot))) }
            if descriptor.flags & flagIndirect != 0 {
                if count > 1 { return finish(.error(.indirectInChain)) }
                if descriptor.flags & flagNext != 0 { return finish(.error(.indirectWithNext)) }
                if let fault = modelIndirectFault(descriptor) { return finish(.error(fault)) }
                for entry in modelEntries(tables, at: descriptor.address, count: Int(descriptor.length / 16)) {
                    if let fault = chain.add(entry.address, entry.length, writable: entry.flags & flagWrite != 0) {
                        return finish(.error(fault))
                    }
                }
                return finish(.chain(id: descriptor.word, descriptors: chain.descriptors, count: 1, indirect: true))
            }
            if let fault = chain.add(descriptor.address, descriptor.length, writable: descriptor.flags & flagWrite != 0)
            {
                return finish(.error(fault))
            }
            if descriptor.flags & flagNext == 0 {
                return finish(
                    .chain(id: descriptor.word, descriptors: chain.descriptors, count: count, indirect: false))
            }
            if count == size { return finish(.error(.chainTooLong(limit: UInt32(size)))) }
        }
    }

    /// The used descriptor the device writes, and its move past `count` slots.
    mutating func use(id: UInt16, count: UInt16, length: UInt32) {
        let slot = Int(usedSlot)
        ring[slot].length = length
        ring[slot].word = id
        ring[slot].flags = (usedWrap ? flagAvail | flagUsed : 0) | (length > 0 ? flagWrite : 0)
        let end = Int(usedSlot) + Int(count)
        if end >= ring.count {
            usedSlot = UInt16(end - ring.count)
            usedWrap.toggle()
        } else {
            usedSlot = UInt16(end)
        }
    }
}

/// Offers chains filling the ring from the driver's position; hostile rounds
/// break flags, availability, buffers and indirect tables. Writes memory and model.
func randomPackedRound(
    _ random: inout SplitMix64, hostile: Bool, model: inout PackedModel, driver: PackedDriver
) throws(TestFailure) {
    let size = model.ring.count
    var slot = Int(model.availableSlot)
    var wrap = model.availableWrap
    var remaining = size
    var tableUse = 0
    model.tables = [ModelDescriptor](repeating: ModelDescriptor(), count: tableCount * entriesPerTable)
    var id: UInt16 = UInt16(random.next() % 1000)
    while remaining > 0 {
        let indirect = tableUse < tableCount && random.next() % 4 == 0
        let length = indirect ? 1 : Swift.min(remaining, 1 + Int(random.next() % 3))
        let entryCount = 1 + Int(random.next() % 6)
        let total = indirect ? entryCount : length
        let writableFrom = Int(random.next() % UInt64(total + 1))
        var elements: [ModelDescriptor] = []
        if indirect {
            let entries = randomTableEntries(&random, count: entryCount, packed: true, writableFrom: writableFrom)
            for (index, entry) in entries.enumerated() { model.tables[tableUse * entriesPerTable + index] = entry }
            let base = tableBase + UInt64(tableUse) * tableSpacing
            elements.append(
                ModelDescriptor(address: base, length: UInt32(entryCount * 16), flags: flagIndirect, word: id))
            tableUse += 1
        } else {
            for index in 0..<length {
                let (address, bufferLength) = randomBuffer(&random, hostile: false)
                var flags: UInt16 = index >= writableFrom ? flagWrite : 0
                if index + 1 < length { flags |= flagNext }
                elements.append(ModelDescriptor(address: address, length: bufferLength, flags: flags, word: id))
            }
        }
        var notAvailable: Int? = nil
        if hostile && random.next() % 3 == 0 {
            let target = Int(random.next() % UInt64(elements.count))
            switch random.next() % 7 {
            case 0: elements[target].flags ^= flagWrite
            case 1: elements[elements.count - 1].flags |= flagNext
            case 2: if target > 0 { notAvailable = target }
            case 3: elements[target].flags |= flagIndirect
            case 4: elements[0].flags |= flagNext | (random.next() % 2 == 0 ? flagIndirect : 0)
            case 5: (elements[target].address, elements[target].length) = randomBuffer(&random, hostile: true)
            default:
                if indirect {
                    model.tables[(tableUse - 1) * entriesPerTable].flags ^= flagWrite
                    elements[0].length = [0, 24, 16 * 65537, 16 * 300][Int(random.next() % 4)]
                }
            }
        }
        // Lay the elements out; the head's flags are stored last.
        var headFlags: UInt16 = 0
        let headSlot = slot
        for (index, element) in elements.enumerated() {
            var flags = element.flags | PackedDriver.availableBits(index == notAvailable ? !wrap : wrap)
            if index == notAvailable && random.next() % 2 == 0 { flags |= flagAvail | flagUsed }
            model.ring[slot] = ModelDescriptor(address: element.address, length: element.length, flags: flags, word: id)
            if index == 0 {
                headFlags = flags
                try driver.write(slot: UInt16(slot), address: element.address, length: element.length, id: id, flags: 0)
            } else {
                try driver.write(
                    slot: UInt16(slot), address: element.address, length: element.length, id: id, flags: flags)
            }
            slot += 1
            if slot == size {
                slot = 0
                wrap.toggle()
            }
        }
        try expectNoError { () throws(GuestMemoryError) in
            try driver.memory.atomicStore(
                headFlags, at: GuestAddress(driver.ring + 16 * UInt64(headSlot) + 14), ordering: .acquireRelease)
        }
        remaining -= elements.count
        id &+= 1
    }
    for (index, entry) in model.tables.enumerated() where index % entriesPerTable < writtenEntries {
        try driver.writeEntry(
            at: tableBase + 16 * UInt64(index), address: entry.address, length: entry.length, flags: entry.flags)
    }
}

/// The model's ring equals guest memory, slot by slot.
func expectRingMatches(_ model: PackedModel, _ driver: PackedDriver) throws(TestFailure) {
    for slot in 0..<model.ring.count {
        let place = driver.ring + 16 * UInt64(slot)
        let expected = model.ring[slot]
        try expectEqual(try peek(UInt64.self, driver.memory, place), expected.address, "ring addr")
        try expectEqual(try peek(UInt32.self, driver.memory, place + 8), expected.length, "ring len")
        try expectEqual(try peek(UInt16.self, driver.memory, place + 12), expected.word, "ring id")
        try expectEqual(try peek(UInt16.self, driver.memory, place + 14), expected.flags, "ring flags")
    }
}

// MARK: Cases

let propertyCases: [PortableTestCase] = [
    PortableTestCase("Property", "event index arithmetic matches the distance rule") { () throws(TestFailure) in
        var random = SplitMix64(seed: 0xe7e7)
        for _ in 0..<20000 {
            let old = UInt16(truncatingIfNeeded: random.next())
            let moved = UInt16(truncatingIfNeeded: random.next() % 3 == 0 ? random.next() % 8 : random.next())
            let event =
                random.next() % 2 == 0
                ? old &+ UInt16(truncatingIfNeeded: random.next() % 16) &- 4
                : UInt16(truncatingIfNeeded: random.next())
            let new = old &+ moved
            // The event is due when it lies fewer than `moved` steps ahead of `old`.
            let expected = (event &- old) < moved
            try expectEqual(EventIndex.needsNotification(event: event, new: new, old: old), expected)
            if moved <= 8 {
                var crossed = false
                for step in 0..<moved where old &+ step == event { crossed = true }
                try expectEqual(crossed, expected)
            }
        }
        // The wrap itself: from 0xfffe to 2 crosses 0xffff, 0 and 1 but not 2 or 0xfffd.
        for (event, due) in [(UInt16(0xffff), true), (0, true), (1, true), (2, false), (0xfffd, false)] {
            try expectEqual(EventIndex.needsNotification(event: event, new: 2, old: 0xfffe), due)
        }
    },
    PortableTestCase("Property", "split ring against the reference model") { () throws(TestFailure) in
        var random = SplitMix64(seed: 0x5b1a)
        var pops = 0
        var errors = 0
        for run in 0..<12 {
            let memory = try makeMemory()
            let size = 1 << Int(random.next() % 6)
            var driver = SplitDriver(memory: memory, size: UInt16(size))
            let eventIndex = run % 2 == 0
            // Start near the 16-bit wrap in some runs.
            let start = run % 3 == 0 ? UInt16(0xffff - random.next() % 40) : UInt16(random.next() % 100)
            var state = try driver.makeQueue(eventIndex: eventIndex).state
            state.nextAvailable = start
            state.nextUsed = start
            var queue = try ok { () throws(VirtioQueueError) in try Virtqueue(state: state) }
            driver.availIndex = start
            // The first check after a restore notifies unless the driver said otherwise.
            try driver.setAvailFlags(0)
            try expect(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) })
            var model = SplitModel(
                table: [ModelDescriptor](repeating: ModelDescriptor(), count: size),
                tables: [ModelDescriptor](repeating: ModelDescriptor(), count: tableCount * entriesPerTable))
            for _ in 0..<20 {
                let hostile = random.next() % 2 == 0
                let heads = randomSplitRound(&random, size: size, hostile: hostile, model: &model)
                try writeSplitModel(model, driver)
                let offered = Array(heads.prefix(1 + Int(random.next() % UInt64(heads.count))))
                for head in offered { try driver.place(head) }
                try driver.publish()
                var returned: [(id: UInt16, chain: DescriptorChain?)] = []
                for head in offered {
                    let expected = model.pop(head: head)
                    let (actual, chain) = try outcome { () throws(VirtioQueueError) in try queue.pop(from: memory) }
                    try expect(actual == expected, "pop differs from the model")
                    pops += 1
                    if let chain {
                        try expectEqual(chain.headIndex, head)
                        returned.append((head, chain))
                    } else {
                        errors += 1
                        if head < UInt16(size) { returned.append((head, nil)) }
                    }
                }
                try expectEmpty(&queue, memory)
                // Return everything in a random order and check the used ring.
                returned.shuffle(using: &random)
                let usedEvent = driver.availIndex &- UInt16(random.next() % UInt64(offered.count + 2))
                let availFlags = UInt16(random.next() % 2)
                try driver.setUsedEvent(usedEvent)
                try driver.setAvailFlags(availFlags)
                let before = queue.nextUsed
                for (position, item) in returned.enumerated() {
                    let length = UInt32(random.next() % 64)
                    if let chain = item.chain {
                        try ok { () throws(VirtioQueueError) in
                            try queue.addUsed(chain, writtenLength: length, to: memory)
                        }
                    } else {
                        try ok { () throws(VirtioQueueError) in
                            try queue.addUsed(id: item.id, writtenLength: length, to: memory)
                        }
                    }
                    let element = try driver.usedElement(before &+ UInt16(position))
                    try expectEqual(element.id, UInt32(item.id))
                    try expectEqual(element.length, length)
                }
                try expectEqual(try driver.usedIndex(), before &+ UInt16(returned.count))
                let moved = UInt16(returned.count)
                let due =
                    moved == 0
                    ? false
                    : eventIndex ? (usedEvent &- before) < moved : availFlags == 0
                try expectEqual(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }, due)
            }
        }
        // The seeded mix must exercise both outcomes in quantity.
        try expect(pops > 400 && errors > 50 && pops - errors > 200, "the generator lost its mix")
    },
    PortableTestCase("Property", "packed ring against the reference model") { () throws(TestFailure) in
        var random = SplitMix64(seed: 0xbacc)
        var pops = 0
        var errors = 0
        for run in 0..<12 {
            let memory = try makeMemory()
            let size = 1 + Int(random.next() % 12)
            let driver = PackedDriver(memory: memory, size: UInt16(size))
            let eventIndex = run % 2 == 1
            var queue = try driver.makeQueue(eventIndex: eventIndex)
            var model = PackedModel(
                ring: [ModelDescriptor](repeating: ModelDescriptor(), count: size),
                tables: [ModelDescriptor](repeating: ModelDescriptor(), count: tableCount * entriesPerTable))
            for _ in 0..<25 {
                let hostile = random.next() % 2 == 0
                try randomPackedRound(&random, hostile: hostile, model: &model, driver: driver)
                var returned: [(id: UInt16, count: UInt16, chain: DescriptorChain?)] = []
                var consumed: UInt32 = 0
                while let prediction = model.pop() {
                    let expected = prediction.outcome
                    let count = prediction.consumed
                    let (actual, chain) = try outcome { () throws(VirtioQueueError) in try queue.pop(from: memory) }
                    try expect(actual == expected, "pop differs from the model")
                    try expectEqual(queue.nextAvailable, model.availableSlot)
                    try expectEqual(queue.availableWrapCounter, model.availableWrap)
                    pops += 1
                    consumed += UInt32(count)
                    if let chain {
                        try expectEqual(chain.headIndex, prediction.head)
                        returned.append((chain.id, count, chain))
                    } else {
                        errors += 1
                        returned.append((0xffff, count, nil))
                    }
                }
                try expectEmpty(&queue, memory)
                // Return in a random order; the device writes used descriptors in that order.
                returned.shuffle(using: &random)
                let eventFlags = UInt16(random.next() % 4)
                let offWrap = UInt16(random.next() % UInt64(size)) | (random.next() % 2 == 0 ? 0x8000 : 0)
                try driver.setDriverEvent(flags: eventFlags, offWrap: offWrap)
                var positions: [(UInt16, Bool)] = []
                for item in returned {
                    let length = UInt32(random.next() % 64)
                    var position = (model.usedSlot, model.usedWrap)
                    for _ in 0..<item.count {
                        positions.append(position)
                        position.0 += 1
                        if position.0 == UInt16(size) { position = (0, !position.1) }
                    }
                    if let chain = item.chain {
                        try ok { () throws(VirtioQueueError) in
                            try queue.addUsed(chain, writtenLength: length, to: memory)
                        }
                    } else {
                        try ok { () throws(VirtioQueueError) in
                            try queue.addUsed(
                                id: item.id, descriptorCount: item.count, writtenLength: length, to: memory)
                        }
                    }
                    model.use(id: item.id, count: item.count, length: length)
                    try expectEqual(queue.nextUsed, model.usedSlot)
                    try expectEqual(queue.usedWrapCounter, model.usedWrap)
                }
                try expectRingMatches(model, driver)
                // Brute force over the slots passed: was the event slot (with its wrap) among them?
                let crossed = positions.contains { $0.0 == offWrap & 0x7fff && $0.1 == (offWrap & 0x8000 != 0) }
                let due: Bool
                if consumed == 0 || eventFlags == 1 {
                    due = false
                } else if eventFlags == 2 && eventIndex {
                    due = consumed > UInt32(size) ? true : crossed
                } else {
                    due = true
                }
                try expectEqual(try ok { () throws(VirtioQueueError) in try queue.needsNotification(memory) }, due)
            }
        }
        try expect(pops > 300 && errors > 40 && pops - errors > 150, "the generator lost its mix")
    },
]
