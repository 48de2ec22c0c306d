// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMMemory
import VirtioQueue

/// A chain with readable [0x40000, 3) [0x41000, 5) and writable [0x42000, 2) [high, 6).
private func scatteredChain() throws(TestFailure) -> (GuestMemoryMap<BufferRegion>, DescriptorChain) {
    let memory = try makeMemory()
    var driver = SplitDriver(memory: memory, size: 4)
    var queue = try driver.makeQueue()
    try driver.descriptor(0, address: 0x4_0000, length: 3, flags: flagNext, next: 1)
    try driver.descriptor(1, address: 0x4_1000, length: 5, flags: flagNext, next: 2)
    try driver.descriptor(2, address: 0x4_2000, length: 2, flags: flagNext | flagWrite, next: 3)
    try driver.descriptor(3, address: highStart, length: 6, flags: flagWrite)
    try driver.offer(0)
    try expectNoError { () throws(GuestMemoryError) in
        try memory.write([1, 2, 3], to: GuestAddress(0x4_0000))
        try memory.write([4, 5, 6, 7, 8], to: GuestAddress(0x4_1000))
        try memory.write([0xee, 0xee], to: GuestAddress(0x4_2000))
        try memory.write([0xee, 0xee, 0xee, 0xee, 0xee, 0xee], to: GuestAddress(highStart))
    }
    return (memory, try popChain(&queue, memory))
}

/// Reading and writing a chain as one byte stream.
let chainIOCases: [PortableTestCase] = [
    PortableTestCase("ChainIO", "the reader crosses descriptor boundaries") { () throws(TestFailure) in
        let (memory, chain) = try scatteredChain()
        var reader = DescriptorChainReader(chain)
        try expectEqual(reader.remaining, 8)
        let word = try ok { () throws(VirtioQueueError) in try reader.readLittleEndian(UInt32.self, from: memory) }
        try expectEqual(word, 0x0403_0201)
        try expectEqual(try ok { () throws(VirtioQueueError) in try reader.readBytes(0, from: memory) }, [])
        try expectEqual(try ok { () throws(VirtioQueueError) in try reader.readBytes(4, from: memory) }, [5, 6, 7, 8])
        try expectEqual(reader.bytesRead, 8)
        try expectError(VirtioQueueError.chainExhausted(requested: 1, remaining: 0)) { () throws(VirtioQueueError) in
            _ = try reader.readBytes(1, from: memory)
        }
    },
    PortableTestCase("ChainIO", "skip, and a short read changes nothing") { () throws(TestFailure) in
        let (memory, chain) = try scatteredChain()
        var reader = DescriptorChainReader(chain)
        try ok { () throws(VirtioQueueError) in try reader.skip(2) }
        try expectError(VirtioQueueError.chainExhausted(requested: 7, remaining: 6)) { () throws(VirtioQueueError) in
            _ = try reader.readBytes(7, from: memory)
        }
        try expectEqual(reader.remaining, 6)
        try expectEqual(try ok { () throws(VirtioQueueError) in try reader.readBytes(3, from: memory) }, [3, 4, 5])
        try expectError(VirtioQueueError.chainExhausted(requested: 4, remaining: 3)) { () throws(VirtioQueueError) in
            try reader.skip(4)
        }
    },
    PortableTestCase("ChainIO", "the writer fills writable buffers in order and counts") { () throws(TestFailure) in
        let (memory, chain) = try scatteredChain()
        var writer = DescriptorChainWriter(chain)
        try expectEqual(writer.remaining, 8)
        try ok { () throws(VirtioQueueError) in try writer.skip(0) }
        try ok { () throws(VirtioQueueError) in try writer.writeLittleEndian(UInt16(0xbeef), to: memory) }
        try ok { () throws(VirtioQueueError) in try writer.write([1, 2, 3, 4, 5], to: memory) }
        try expectEqual(writer.bytesWritten, 7)
        try expectEqual(writer.writtenLength, 7)
        try expectError(VirtioQueueError.chainExhausted(requested: 2, remaining: 1)) { () throws(VirtioQueueError) in
            try writer.write([9, 9], to: memory)
        }
        let low = try expectNoError { () throws(GuestMemoryError) in
            try memory.read(count: 2, from: GuestAddress(0x4_2000))
        }
        let high = try expectNoError { () throws(GuestMemoryError) in
            try memory.read(count: 6, from: GuestAddress(highStart))
        }
        try expectEqual(low, [0xef, 0xbe])
        try expectEqual(high, [1, 2, 3, 4, 5, 0xee], "the refused write left the last byte alone")
        try ok { () throws(VirtioQueueError) in try writer.skip(1) }
        try expectEqual(writer.bytesWritten, 8)
        try expectError(VirtioQueueError.chainExhausted(requested: 1, remaining: 0)) { () throws(VirtioQueueError) in
            try writer.skip(1)
        }
        // The readable buffers were not touched.
        let readable = try expectNoError { () throws(GuestMemoryError) in
            try memory.read(count: 3, from: GuestAddress(0x4_0000))
        }
        try expectEqual(readable, [1, 2, 3])
    },
    PortableTestCase("ChainIO", "an empty side reads and writes nothing") { () throws(TestFailure) in
        let memory = try makeMemory()
        var driver = SplitDriver(memory: memory, size: 2)
        var queue = try driver.makeQueue()
        try driver.descriptor(0, address: 0x4_0000, length: 4)
        try driver.offer(0)
        let chain = try popChain(&queue, memory)
        var writer = DescriptorChainWriter(chain)
        try expectEqual(writer.remaining, 0)
        try ok { () throws(VirtioQueueError) in try writer.write([], to: memory) }
        try expectError(VirtioQueueError.chainExhausted(requested: 1, remaining: 0)) { () throws(VirtioQueueError) in
            try writer.write([0], to: memory)
        }
        try expectEqual(writer.writtenLength, 0)
    },
]
