// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMMSysUtil
import VMMemory
import VMMemoryLinux

@Suite struct GuestIOVectorsTests {
    let page = MmapRegion.basePageSize

    func memory(pages: UInt64 = 4, dirty: Bool = true) throws -> GuestMemoryMap<MmapRegion> {
        try GuestMemoryMap(regions: [
            MmapRegion.anonymous(at: .zero, size: pages * page, options: .init(trackDirtyPages: dirty))
        ])
    }

    @Test func moreVectorsThanOneCallTakesAreAllFilled() throws {
        // 1,500 one-byte pieces, every other byte: more than UIO_MAXIOV, so readFully needs two calls.
        let memory = try memory()
        var vectors = GuestIOVectors()
        for index in 0..<1500 { vectors.append(try memory.slice(at: GuestAddress(UInt64(2 * index)), length: 1)) }
        #expect(vectors.isFull)
        #expect(vectors.byteCount == 1500)
        let data = (0..<1500).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 1) }
        let file = try temporaryFile(data)
        try vectors.readFully(from: file.rawValue, at: 0)
        #expect(vectors.byteCount == 0)
        let back = try memory.read(count: 3000, from: .zero)
        #expect((0..<1500).map { back[2 * $0] } == data)
        #expect((0..<1500).allSatisfy { back[2 * $0 + 1] == 0 })
    }

    @Test func guestRangesAreAddedOnlyWhileTheyFitOneCall() throws {
        let memory = try memory()
        var vectors = GuestIOVectors()
        for index in 0..<(GuestIOVectors.limit - 1) {
            vectors.append(try memory.slice(at: GuestAddress(UInt64(2 * index)), length: 1))
        }
        // One vector is left: a range inside one region takes it, and then nothing more fits.
        #expect(vectors.append(memory, GuestAddress(0x3000), 16) == 16)
        #expect(vectors.isFull)
        #expect(vectors.append(memory, GuestAddress(0x3100), 16) == 0)
        #expect(vectors.byteCount == GuestIOVectors.limit - 1 + 16)
        // A range outside guest memory is nil, not a partial answer.
        var other = GuestIOVectors()
        #expect(other.append(memory, GuestAddress(4 * page - 8), 16) == nil)
        #expect(other.append(memory, GuestAddress(UInt64.max - 4), 16) == nil)
    }

    @Test func shortReadsAreConsumedAndOnlyWrittenPagesMarkedDirty() throws {
        let memory = try memory()
        let pair = try UnixSocket.pair()
        let reader = pair.first.descriptor.rawValue
        var vectors = GuestIOVectors()
        // Two pieces: the last 10 bytes of page 0 and 30 bytes at the start of page 2.
        #expect(vectors.append(memory, GuestAddress(page - 10), 10) == 10)
        #expect(vectors.append(memory, GuestAddress(2 * page), 30) == 30)
        _ = try pair.second.send(Array(1...6))
        #expect(try vectors.read(from: reader) == 6)
        #expect(memory.regions[0].dirtyBitmap?.dirtyPages() == [0])
        vectors.consume(6)
        #expect(vectors.byteCount == 34)
        _ = try pair.second.send(Array(7...20))
        #expect(try vectors.read(from: reader) == 14)
        #expect(memory.regions[0].dirtyBitmap?.dirtyPages() == [0, 2])
        vectors.consume(14)
        #expect(try memory.read(count: 10, from: GuestAddress(page - 10)) == Array(1...10))
        #expect(try memory.read(count: 12, from: GuestAddress(2 * page)) == Array(11...20) + [0, 0])
        #expect(vectors.byteCount == 20)
    }

    @Test func theSpillBufferCatchesWhatDoesNotFit() throws {
        let memory = try memory(dirty: false)
        let pair = try UnixSocket.pair()
        let reader = pair.first.descriptor.rawValue
        var vectors = GuestIOVectors(capacity: 4, spill: 64)
        #expect(vectors.append(memory, GuestAddress(0x100), 8) == 8)
        _ = try pair.second.send(Array(1...20))
        // More than the guest's 8 bytes came: the caller learns the frame did not fit.
        #expect(try vectors.read(from: reader) == 20)
        #expect(try memory.read(count: 9, from: GuestAddress(0x100)) == Array(1...8) + [0])
        // Emptied and reused: the spill buffer stays behind the new guest pieces.
        vectors.removeAll()
        #expect(vectors.byteCount == 0)
        #expect(vectors.append(memory, GuestAddress(0x200), 4) == 4)
        _ = try pair.second.send([9, 9, 9, 9, 5])
        #expect(try vectors.read(from: reader) == 5)
        #expect(try memory.read(count: 4, from: GuestAddress(0x200)) == [9, 9, 9, 9])
    }

    @Test func sendAndReceiveMoveGuestBytesOverASocket() throws {
        let memory = try memory()
        let pair = try UnixSocket.pair()
        try memory.write(Array("hello, vectors".utf8), to: GuestAddress(0x10))
        var outgoing = GuestIOVectors()
        outgoing.append(try memory.slice(at: GuestAddress(0x10), length: 7))
        outgoing.append(try memory.slice(at: GuestAddress(0x17), length: 7))
        #expect(try outgoing.send(to: pair.first.descriptor.rawValue) == 14)
        var incoming = GuestIOVectors()
        #expect(incoming.append(memory, GuestAddress(page + 0x20), 14) == 14)
        #expect(try incoming.receive(from: pair.second.descriptor.rawValue) == 14)
        #expect(try memory.read(count: 14, from: GuestAddress(page + 0x20)) == Array("hello, vectors".utf8))
        #expect(memory.regions[0].dirtyBitmap?.dirtyPages() == [0, 1])
        // Nothing queued on a non-blocking receive: EAGAIN, typed.
        #expect(throws: SystemError("recvmsg", errno: .wouldBlock)) {
            try incoming.receive(from: pair.second.descriptor.rawValue, flags: Int32(MSG_DONTWAIT))
        }
        // The peer gone: EPIPE as an error, never SIGPIPE killing the process.
        let left = pair.takeFirst()
        #expect(throws: SystemError("sendmsg", errno: Errno(rawValue: EPIPE))) {
            try outgoing.send(to: left.descriptor.rawValue)
        }
    }

    @Test func aFileEndingEarlyAndABadDescriptorAreTypedErrors() throws {
        let memory = try memory()
        var vectors = GuestIOVectors([try memory.slice(at: .zero, length: 100)])
        let file = try temporaryFile(Array(repeating: 7, count: 40))
        #expect(throws: GuestMemoryIOError.endOfFile(transferred: 40, requested: 100)) {
            try vectors.readFully(from: file.rawValue, at: 0)
        }
        var writes = GuestIOVectors([try memory.slice(at: .zero, length: 100)])
        #expect(throws: GuestMemoryIOError.system(SystemError("pwritev", errno: Errno(rawValue: EBADF)))) {
            try writes.writeFully(to: -1, at: 0)
        }
        // A negative file offset is the kernel's EINVAL, not a trap.
        let memoryTwo = memory
        #expect(throws: GuestMemoryIOError.system(SystemError("preadv", errno: Errno(rawValue: EINVAL)))) {
            try memoryTwo.readExactly(from: file.rawValue, fileOffset: -1, into: .zero, length: 10)
        }
        // No vectors: no call at all.
        #expect(try GuestIOVectors().read(from: -1) == 0)
    }
}
