// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMMSysUtil
import VMMemory
import VMMemoryLinux

/// A temporary file holding `bytes`, unlinked at once (the descriptor keeps it).
func temporaryFile(_ bytes: [UInt8]) throws -> FileDescriptor {
    var template = Array("/tmp/vmmemory-io-XXXXXX".utf8CString)
    let raw = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    let file = FileDescriptor(owning: raw)
    template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    try file.write(bytes)
    return file
}

@Suite struct GuestMemoryIOTests {
    let page = MmapRegion.basePageSize

    /// Two adjacent regions [0x10000, +2 pages) [.., +2 pages) then a hole.
    func twoRegions(dirty: Bool = false) throws -> GuestMemoryMap<MmapRegion> {
        let options = MmapRegion.Options(trackDirtyPages: dirty)
        return try GuestMemoryMap(regions: [
            MmapRegion.anonymous(at: GuestAddress(0x10000), size: 2 * page, options: options),
            MmapRegion.memfd(at: GuestAddress(0x10000 + 2 * page), size: 2 * page, options: options),
        ])
    }

    @Test func preadvFillsGuestMemoryAcrossRegions() throws {
        let memory = try twoRegions(dirty: true)
        let data = (0..<Int(3 * page)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let file = try temporaryFile(data)
        let start = GuestAddress(0x10000 + page)
        let count = try memory.read(from: file.rawValue, fileOffset: 0, into: start, length: Int(2 * page))
        #expect(count == Int(2 * page))
        #expect(try memory.read(count: Int(2 * page), from: start) == Array(data[0..<Int(2 * page)]))
        // The kernel's writes into guest memory are recorded like the VMM's own.
        #expect(memory.regions[0].dirtyBitmap?.dirtyPages() == [1])
        #expect(memory.regions[1].dirtyBitmap?.dirtyPages() == [0])
    }

    @Test func pwritevWritesGuestMemoryAcrossRegions() throws {
        let memory = try twoRegions()
        let data = (0..<100).map { UInt8($0) }
        let start = GuestAddress(0x10000 + 2 * page - 50)
        try memory.write(data, to: start)
        let file = try temporaryFile([])
        try memory.writeAll(to: file.rawValue, fileOffset: 10, from: start, length: 100)
        var back = [UInt8](repeating: 0, count: 100)
        #expect(back.withUnsafeMutableBytes { pread(file.rawValue, $0.baseAddress, 100, 10) } == 100)
        #expect(back == data)
    }

    @Test func readExactlyReportsEndOfFile() throws {
        let memory = try twoRegions()
        let file = try temporaryFile([1, 2, 3])
        #expect(throws: GuestMemoryIOError.endOfFile(transferred: 3, requested: 10)) {
            try memory.readExactly(from: file.rawValue, fileOffset: 0, into: GuestAddress(0x10000), length: 10)
        }
        #expect(try memory.read(count: 4, from: GuestAddress(0x10000)) == [1, 2, 3, 0])
    }

    @Test func hostileRangesFailBeforeAnyIO() throws {
        let memory = try twoRegions()
        // A pipe: any read would consume bytes, so an untouched pipe proves no I/O ran.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let reader = FileDescriptor(owning: ends[0])
        let writer = FileDescriptor(owning: ends[1])
        try writer.write([9, 9, 9, 9])
        let end = GuestAddress(0x10000 + 4 * page)
        #expect(throws: GuestMemoryIOError.memory(.partialAccess(end.wrappingSubtract(2), length: 4, completed: 2))) {
            try memory.read(from: reader.rawValue, fileOffset: nil, into: end.wrappingSubtract(2), length: 4)
        }
        #expect(throws: GuestMemoryIOError.memory(.addressOverflow(.max, length: 2))) {
            try memory.read(from: reader.rawValue, fileOffset: nil, into: .max, length: 2)
        }
        #expect(throws: GuestMemoryIOError.self) {
            try memory.write(to: writer.rawValue, fileOffset: nil, from: GuestAddress(0x10000), length: -1)
        }
        #expect(throws: GuestMemoryIOError.memory(.unmappedAddress(GuestAddress(0x100)))) {
            try memory.readExactly(from: reader.rawValue, fileOffset: nil, into: GuestAddress(0x100), length: 1)
        }
        #expect(try memory.read(from: reader.rawValue, fileOffset: nil, into: GuestAddress(0x10000), length: 16) == 4)
        #expect(try memory.read(count: 5, from: GuestAddress(0x10000)) == [9, 9, 9, 9, 0])
        // A bad descriptor is a system error that names the call.
        #expect(throws: GuestMemoryIOError.system(SystemError("preadv", errno: .badFileDescriptor))) {
            try memory.read(from: -1, fileOffset: 0, into: GuestAddress(0x10000), length: 1)
        }
    }
}

@Suite struct ConcurrencyTests {
    /// Runs `body(index)` on `count` POSIX threads and waits for all of them.
    func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        final class Box: @unchecked Sendable {
            let body: @Sendable (Int) -> Void
            let index: Int
            init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) {
                self.body = body
                self.index = index
            }
        }
        var threads: [pthread_t] = []
        for index in 0..<count {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(Box(body, index)).toOpaque()
            let created = pthread_create(
                &thread, nil,
                { raw in
                    let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                    box.body(box.index)
                    return nil
                }, box)
            precondition(created == 0)
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
    }

    @Test func atomicAddsFromManyThreadsAreNotLost() throws {
        let memory = try GuestMemoryMap(regions: [MmapRegion.anonymous(at: .zero, size: MmapRegion.basePageSize)])
        let perThread = 20_000
        onThreads(4) { _ in
            for _ in 0..<perThread { _ = try! memory.atomicWrappingAdd(UInt64(1), at: GuestAddress(0x40)) }
        }
        #expect(try memory.atomicLoad(UInt64.self, at: GuestAddress(0x40)) == UInt64(4 * perThread))
    }

    @Test func disjointWritersAndRacingReadersAcrossRegions() throws {
        let page = MmapRegion.basePageSize
        let memory = try GuestMemoryMap(regions: [
            MmapRegion.anonymous(at: .zero, size: 4 * page, options: .init(trackDirtyPages: true)),
            MmapRegion.memfd(at: GuestAddress(4 * page), size: 4 * page, options: .init(trackDirtyPages: true)),
        ])
        // Each thread owns one 8-byte lane per 64 bytes; lanes straddle the region boundary too.
        onThreads(4) { lane in
            for round in 0..<2_000 {
                let value = UInt64(lane) << 56 | UInt64(round)
                for block in stride(from: UInt64(0), to: 8 * page, by: 64) {
                    try! memory.writeLittleEndian(value, to: GuestAddress(block + UInt64(lane) * 8 + 3))
                }
                // Racing readers never see torn lanes of their own thread.
                let back = try! memory.readLittleEndian(UInt64.self, from: GuestAddress(UInt64(lane) * 8 + 3))
                precondition(back == value)
            }
        }
        for block in stride(from: UInt64(0), to: 8 * page, by: 64) {
            for lane in 0..<4 {
                let value = try memory.readLittleEndian(UInt64.self, from: GuestAddress(block + UInt64(lane) * 8 + 3))
                #expect(value == UInt64(lane) << 56 | 1_999)
            }
        }
        #expect(memory.regions[0].dirtyBitmap?.dirtyPages() == [0, 1, 2, 3])
        #expect(memory.regions[1].dirtyBitmap?.dirtyPages() == [0, 1, 2, 3])
    }
}
