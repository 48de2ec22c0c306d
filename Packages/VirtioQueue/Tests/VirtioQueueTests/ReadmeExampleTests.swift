// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Testing
import VMMemory
import VirtioQueue

/// The README's example, line for line, so the documented code keeps compiling and working.
@Test func readmeExample() throws {
    // Guest RAM. The driver side (a guest, played here by a few writes) puts a split
    // queue of 16 entries at 0x1000 and offers one request: descriptor 0 holds 4
    // readable bytes at 0x8000 and chains to descriptor 1, 16 writable bytes at 0x9000.
    let memory = try GuestMemoryMap(regions: [BufferRegion(start: GuestAddress(0), size: 1 << 20)])
    try memory.write([0x68, 0x69, 0x21, 0x0a], to: GuestAddress(0x8000))  // "hi!\n"
    try memory.writeLittleEndian(UInt64(0x8000), to: GuestAddress(0x1000))  // desc[0].addr
    try memory.writeLittleEndian(UInt32(4), to: GuestAddress(0x1008))  // desc[0].len
    try memory.writeLittleEndian(UInt16(1), to: GuestAddress(0x100c))  // desc[0].flags = NEXT
    try memory.writeLittleEndian(UInt16(1), to: GuestAddress(0x100e))  // desc[0].next = 1
    try memory.writeLittleEndian(UInt64(0x9000), to: GuestAddress(0x1010))  // desc[1].addr
    try memory.writeLittleEndian(UInt32(16), to: GuestAddress(0x1018))  // desc[1].len
    try memory.writeLittleEndian(UInt16(2), to: GuestAddress(0x101c))  // desc[1].flags = WRITE
    try memory.writeLittleEndian(UInt16(0), to: GuestAddress(0x1104))  // avail.ring[0] = head 0
    try memory.atomicStore(UInt16(1), at: GuestAddress(0x1102))  // avail.idx = 1, published

    // The device side: configure the queue as the transport does, then serve it.
    var queue = try Virtqueue(maximumSize: 256)
    queue.size = 16
    queue.descriptorArea = GuestAddress(0x1000)
    queue.driverArea = GuestAddress(0x1100)
    queue.deviceArea = GuestAddress(0x1200)
    try queue.activate(in: memory)

    while true {
        try queue.disableNotification(in: memory)  // polling: no kicks needed meanwhile
        while let chain = try queue.pop(from: memory) {
            var reader = DescriptorChainReader(chain)
            let request = try reader.readBytes(Int(reader.remaining), from: memory)
            var writer = DescriptorChainWriter(chain)
            try writer.write(Array(request.reversed()), to: memory)  // echo it back, reversed
            try queue.addUsed(chain, writtenLength: writer.writtenLength, to: memory)
        }
        if try !queue.enableNotification(in: memory) { break }  // nothing slipped in meanwhile
    }
    let interrupt = try queue.needsNotification(memory)
    let usedIndex = try memory.readLittleEndian(UInt16.self, from: GuestAddress(0x1202))
    let reply = try memory.read(count: 4, from: GuestAddress(0x9000))
    print(interrupt, usedIndex, reply)  // true 1 [10, 33, 105, 104]

    #expect(interrupt)
    #expect(usedIndex == 1)
    #expect(reply == [10, 33, 105, 104])
    #expect(try memory.readLittleEndian(UInt32.self, from: GuestAddress(0x1208)) == 4)  // used.ring[0].len
}
