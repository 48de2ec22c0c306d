// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Glibc
import Testing
import VMMSysUtil

@Suite struct SystemErrorTests {
    @Test func errorNamesCallAndMessage() {
        let error = SystemError("ioctl(KVM_RUN)", errno: .badFileDescriptor)
        #expect(error.description == "ioctl(KVM_RUN): Bad file descriptor (errno 9)")
    }

    @Test func failedCallOnClosedDescriptorIsTyped() {
        #expect(throws: SystemError("read", errno: .badFileDescriptor)) {
            var byte: UInt8 = 0
            _ = try retryOnInterrupt("read") { read(-1, &byte, 1) }
        }
    }

    @Test func openMissingFileReportsENOENTWithPath() {
        do {
            _ = try FileDescriptor.open("/nonexistent/swift-vmm", flags: O_RDONLY)
            Issue.record("open of a missing path succeeded")
        } catch {
            #expect(error.errno == .noSuchFile)
            #expect(error.call == "open(/nonexistent/swift-vmm)")
        }
    }
}

@Suite struct FileDescriptorTests {
    @Test func closesExactlyOnceWhenDestroyed() throws {
        var raw: Int32 = -1
        do {
            let fd = try FileDescriptor.open("/dev/null", flags: O_RDONLY)
            raw = fd.rawValue
            #expect(fcntl(raw, F_GETFD) >= 0)
        }
        // The descriptor number is closed once the owner is gone.
        #expect(fcntl(raw, F_GETFD) == -1)
        #expect(Errno.current == .badFileDescriptor)
    }

    @Test func explicitCloseConsumesTheValue() throws {
        let fd = try FileDescriptor.open("/dev/null", flags: O_RDONLY)
        let raw = fd.rawValue
        try fd.close()
        #expect(fcntl(raw, F_GETFD) == -1)
    }

    @Test func readToEndReadsEveryChunkAndNamesAFailure() throws {
        // Larger than one 64 KiB chunk, so the loop runs more than once.
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("read-to-end-\(getpid())").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        #expect(try FileDescriptor.open(path, flags: O_RDONLY).readToEnd() == bytes)
        let directory = try FileDescriptor.open("/", flags: O_RDONLY | O_DIRECTORY)
        #expect(throws: SystemError("read", errno: Errno(rawValue: EISDIR))) { try directory.readToEnd() }
    }

    @Test func releaseHandsOwnershipBack() throws {
        let fd = try FileDescriptor.open("/dev/null", flags: O_RDONLY)
        let raw = fd.release()
        #expect(fcntl(raw, F_GETFD) >= 0)
        #expect(close(raw) == 0)
    }

    @Test func writeAndReadThroughAPipe() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let reader = FileDescriptor(owning: ends[0])
        let writer = FileDescriptor(owning: ends[1])
        try writer.write(Array("swift-vmm".utf8))
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = try buffer.withUnsafeMutableBytes { raw in try reader.read(into: raw) }
        #expect(Array(buffer[..<count]) == Array("swift-vmm".utf8))
    }
}

@Suite struct EventFdTests {
    @Test func signalsAccumulateUntilRead() throws {
        let event = try EventFd(flags: .nonBlocking)
        try event.signal(2)
        try event.signal(5)
        #expect(try event.wait() == 7)
    }

    @Test func emptyNonBlockingWaitThrowsEAGAIN() throws {
        let event = try EventFd(flags: .nonBlocking)
        #expect(throws: SystemError("read(eventfd)", errno: .wouldBlock)) { try event.wait() }
    }

    @Test func semaphoreModeCountsDownByOne() throws {
        let event = try EventFd(initialValue: 2, flags: [.nonBlocking, .semaphore])
        #expect(try event.wait() == 1)
        #expect(try event.wait() == 1)
        #expect(throws: SystemError.self) { try event.wait() }
    }
}

@Suite struct MemFdTests {
    @Test func createsSizedSealableMemory() throws {
        let memory = try MemFd(name: "swift-vmm-test", size: 1 << 20, flags: .allowSealing)
        #expect(try memory.size() == 1 << 20)
        try memory.seal([.shrink, .grow])
        #expect(try memory.seals().contains([.shrink, .grow]))
        // A sealed size cannot change.
        #expect(ftruncate(memory.descriptor.rawValue, 4096) == -1)
        #expect(Errno.current == .notPermitted)
    }

    @Test func sealingWithoutPermissionFails() throws {
        let memory = try MemFd(name: "no-seal", size: 4096)
        #expect(throws: SystemError("fcntl(F_ADD_SEALS)", errno: .notPermitted)) { try memory.seal(.grow) }
    }
}
