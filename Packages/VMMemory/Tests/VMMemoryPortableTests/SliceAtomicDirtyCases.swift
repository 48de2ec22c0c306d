// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMMemory

let volatileSliceCases: [PortableTestCase] = [
    PortableTestCase("VolatileSlice", "bounds are checked") { () throws(TestFailure) in
        let memory = try sampleMemory()
        let slice = try expectNoError { () throws(GuestMemoryError) in
            try memory.slice(at: GuestAddress(0x1ff0), length: 0x20)
        }
        let (fromSlice, fromMemory) = try expectNoError { () throws(GuestMemoryError) in
            try slice.storeLittleEndian(UInt32(0xcafe_f00d), at: 0x1c)
            return (
                try slice.loadLittleEndian(UInt32.self, at: 0x1c),
                try memory.readLittleEndian(UInt32.self, from: GuestAddress(0x200c))
            )
        }
        try expectEqual(fromSlice, 0xcafe_f00d)
        try expectEqual(fromMemory, 0xcafe_f00d)
        try expectError(.sliceOutOfBounds(offset: 0x1d, length: 4, sliceSize: 0x20)) { () throws(GuestMemoryError) in
            try slice.storeLittleEndian(UInt32(1), at: 0x1d)
        }
        try expectError(.sliceOutOfBounds(offset: UInt64.max, length: 2, sliceSize: 0x20)) {
            () throws(GuestMemoryError) in _ = try slice.loadLittleEndian(UInt16.self, at: UInt64.max)
        }
        try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in
            _ = try slice.subslice(at: 0x10, length: 0x11)
        }
        try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in
            _ = try slice.subslice(at: 1, length: UInt64.max)
        }
        try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in _ = try slice.read(count: 0x21) }
        try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in try slice.write([1, 2], at: 0x1f) }
        let (tailBytes, emptyCount) = try expectNoError { () throws(GuestMemoryError) in
            let tail = try slice.subslice(at: 0x1c, length: 4)
            return (try tail.read(count: 4), try tail.subslice(at: 4, length: 0).count)
        }
        try expectEqual(tailBytes, [0x0d, 0xf0, 0xfe, 0xca])
        try expectEqual(emptyCount, 0)
    },
    PortableTestCase("VolatileSlice", "copies and fills") { () throws(TestFailure) in
        let memory = try sampleMemory()
        let (source, destination, overlapping) = try expectNoError { () throws(GuestMemoryError) in
            let source = try memory.slice(at: GuestAddress(0x1000), length: 8)
            try source.write([1, 2, 3, 4, 5, 6, 7, 8])
            return (
                source, try memory.slice(at: GuestAddress(0x8000), length: 4),
                try memory.slice(at: GuestAddress(0x1002), length: 6)
            )
        }
        try expectEqual(source.copy(to: destination), 4)
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in try memory.read(count: 5, from: GuestAddress(0x8000)) },
            [1, 2, 3, 4, 0])
        destination.fill(0x42)
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in try destination.read(count: 4) },
            [0x42, 0x42, 0x42, 0x42])
        // Overlapping copy inside one region behaves like memmove.
        source.copy(to: overlapping)
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in try memory.read(count: 8, from: GuestAddress(0x1000)) },
            [1, 2, 1, 2, 3, 4, 5, 6])
    },
    PortableTestCase("VolatileSlice", "region slices use region offsets") { () throws(TestFailure) in
        let region = try expectNoError { () throws(GuestMemoryError) in
            try BufferRegion(start: GuestAddress(0x4000), size: 0x100)
        }
        try expectNoError { () throws(GuestMemoryError) in
            try region.slice(at: MemoryRegionAddress(0xf0), length: 0x10).write([9], at: 0xf)
        }
        try expectEqual(region.hostAddress.load(fromByteOffset: 0xff, as: UInt8.self), 9)
        try expectError(.regionOffsetOutOfRange(MemoryRegionAddress(0xf0), length: 0x11, regionSize: 0x100)) {
            () throws(GuestMemoryError) in _ = try region.slice(at: MemoryRegionAddress(0xf0), length: 0x11)
        }
        try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in
            _ = try region.slice(at: MemoryRegionAddress(UInt64.max), length: 1)
        }
        try expectEqual(region.wholeSlice.count, 0x100)
    },
]

let atomicAccessCases: [PortableTestCase] = [
    PortableTestCase("AtomicAccess", "loads, stores and updates") { () throws(TestFailure) in
        let memory = try sampleMemory()
        try expectNoError { () throws(GuestMemoryError) in
            try memory.atomicStore(UInt64(0x1122_3344_5566_7788), at: GuestAddress(0x1008))
        }
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in
                try memory.atomicLoad(UInt64.self, at: GuestAddress(0x1008))
            },
            0x1122_3344_5566_7788)
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in
                try memory.readLittleEndian(UInt64.self, from: GuestAddress(0x1008))
            }, 0x1122_3344_5566_7788)
        try expectNoError { () throws(GuestMemoryError) in
            try memory.atomicStore(UInt16(7), at: GuestAddress(0x3ffe), ordering: .sequentiallyConsistent)
        }
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in
                try memory.atomicLoad(UInt16.self, at: GuestAddress(0x3ffe), ordering: .relaxed)
            }, 7)
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in
                try memory.atomicWrappingAdd(UInt16(0xffff), at: GuestAddress(0x3ffe))
            }, 7)
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in
                try memory.atomicLoad(UInt16.self, at: GuestAddress(0x3ffe))
            }, 6)
        let failed = try expectNoError { () throws(GuestMemoryError) in
            try memory.atomicCompareExchange(expected: UInt32(1), desired: 2, at: GuestAddress(0x8000))
        }
        try expect(!failed.exchanged, "compare-exchange against the wrong value must not store")
        try expectEqual(failed.original, 0)
        let done = try expectNoError { () throws(GuestMemoryError) in
            try memory.atomicCompareExchange(expected: UInt32(0), desired: 2, at: GuestAddress(0x8000))
        }
        try expect(done.exchanged, "compare-exchange against the right value must store")
        try expectEqual(done.original, 0)
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in
                try memory.atomicLoad(Int8.self, at: GuestAddress(0x8000))
            }, 2)
    },
    PortableTestCase("AtomicAccess", "misaligned and hostile addresses are refused") { () throws(TestFailure) in
        let memory = try sampleMemory()
        try expectError(.misaligned(GuestAddress(0x1002), alignment: 4)) { () throws(GuestMemoryError) in
            _ = try memory.atomicLoad(UInt32.self, at: GuestAddress(0x1002))
        }
        try expectError(.misaligned(.max, alignment: 8)) { () throws(GuestMemoryError) in
            try memory.atomicStore(UInt64(1), at: .max)
        }
        try expectError(.unmappedAddress(GuestAddress(0x4000))) { () throws(GuestMemoryError) in
            _ = try memory.atomicLoad(UInt64.self, at: GuestAddress(0x4000))
        }
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in
                try memory.atomicLoad(UInt64.self, at: GuestAddress(0xffff_ffff_ffff_fff8))
            }, 0)
    },
]

let dirtyBitmapCases: [PortableTestCase] = [
    PortableTestCase("DirtyBitmap", "marks touched pages only") { () throws(TestFailure) in
        let bitmap = DirtyBitmap(size: 0x10_0000)
        try expectEqual(bitmap.pageCount, 256)
        bitmap.mark(offset: 0x1ffe, length: 4)
        bitmap.mark(offset: 0xff000, length: 0x10_0000)  // clamped at the end
        bitmap.mark(offset: UInt64.max, length: UInt64.max)  // entirely outside: ignored
        bitmap.mark(offset: 0x5000, length: 0)
        try expectEqual(bitmap.dirtyPages(), [1, 2, 255])
        try expect(bitmap.isDirty(offset: 0x2000, length: 1))
        try expect(!bitmap.isDirty(offset: 0x3000, length: 0x1000))
        try expect(bitmap.isDirty(offset: 0x3000, length: UInt64.max))
        try expect(!bitmap.isDirty(page: 256) && !bitmap.isDirty(page: -1))
        try expectEqual(bitmap.takeDirtyPages(), [1, 2, 255])
        try expectEqual(bitmap.dirtyPages(), [])
    },
    PortableTestCase("DirtyBitmap", "whole words and odd sizes") { () throws(TestFailure) in
        let bitmap = DirtyBitmap(size: 130 * 4096 + 1, pageSize: 4096)
        try expectEqual(bitmap.pageCount, 131)
        bitmap.mark(offset: 0, length: 131 * 4096)
        try expectEqual(bitmap.dirtyPages(), Array(0..<131))
        bitmap.clear()
        try expect(bitmap.dirtyPages().isEmpty)
    },
    PortableTestCase("DirtyBitmap", "memory writes mark their regions") { () throws(TestFailure) in
        let memory = try sampleMemory(trackDirtyPages: true)
        try expectNoError { () throws(GuestMemoryError) in
            try memory.write([1, 2, 3, 4], to: GuestAddress(0x1ffe))  // pages 0 and 1 of region 0
            try memory.writeLittleEndian(UInt32(5), to: GuestAddress(0x2ffe))  // spans regions 0 and 1
            try memory.atomicStore(UInt8(1), at: GuestAddress(0x8800))
            try memory.slice(at: .max, length: 1).write([1])
            _ = try memory.read(count: 16, from: GuestAddress(0x1000))  // reads mark nothing
        }
        try expectEqual(memory.regions[0].dirtyBitmap?.dirtyPages(), [0, 1])
        try expectEqual(memory.regions[1].dirtyBitmap?.dirtyPages(), [0])
        try expectEqual(memory.regions[2].dirtyBitmap?.dirtyPages(), [0])
        try expectEqual(memory.regions[3].dirtyBitmap?.dirtyPages(), [0])
        // A refused write marks nothing.
        memory.regions[1].dirtyBitmap?.clear()
        try expectThrows(GuestMemoryError.self) { () throws(GuestMemoryError) in
            try memory.write([1, 2], to: GuestAddress(0x3fff))
        }
        try expectEqual(memory.regions[1].dirtyBitmap?.dirtyPages(), [])
    },
]
