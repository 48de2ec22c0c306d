// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMMSysUtil

/// (device, inode) of an open descriptor: equal pairs mean the same open file.
private func identity(_ fd: Int32) -> (UInt, UInt) {
    var status = stat()
    #expect(fstat(fd, &status) == 0)
    return (UInt(status.st_dev), UInt(status.st_ino))
}

@Suite struct UnixSocketTests {
    @Test func passedDescriptorRefersToTheSameFile() throws {
        let pair = try UnixSocket.pair()
        let file = try TemporaryFile(prefix: "scm-rights")
        try file.descriptor.write(Array("written before passing".utf8))

        #expect(try pair.first.send([0x2A], descriptors: [file.descriptor.rawValue]) == 1)
        var message = try pair.second.receive(maxBytes: 8, maxDescriptors: 4)
        let bytes = message.bytes
        let count = message.descriptorCount
        #expect(bytes == [0x2A])
        #expect(count == 1)
        let truncated = message.descriptorsTruncated
        #expect(!truncated)
        guard let received = message.takeDescriptor() else { throw Missing() }

        // A new descriptor number for the same open file: same inode, shared offset.
        #expect(received.rawValue != file.descriptor.rawValue)
        #expect(identity(received.rawValue) == identity(file.descriptor.rawValue))
        #expect(lseek(received.rawValue, 0, SEEK_CUR) == 22)
        try received.write(Array(" and after".utf8))
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = buffer.withUnsafeMutableBytes { pread(file.descriptor.rawValue, $0.baseAddress, 64, 0) }
        #expect(String(decoding: buffer[..<length], as: UTF8.self) == "written before passing and after")
        // Installed close-on-exec.
        #expect(fcntl(received.rawValue, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func severalDescriptorsArriveInOrder() throws {
        let pair = try UnixSocket.pair()
        let memory = try MemFd(name: "scm-memfd", size: 8192)
        let event = try EventFd(flags: .nonBlocking)
        _ = try pair.first.send(
            Array("fds".utf8), descriptors: [memory.descriptor.rawValue, event.descriptor.rawValue])
        var message = try pair.second.receive(maxBytes: 16, maxDescriptors: 2)
        let bytes = message.bytes
        #expect(bytes == Array("fds".utf8))
        guard let memoryCopy = message.takeDescriptor(), let eventCopy = message.takeDescriptor() else {
            throw Missing()
        }
        let left = message.descriptorCount
        #expect(left == 0)
        #expect(identity(memoryCopy.rawValue) == identity(memory.descriptor.rawValue))
        // The passed eventfd is the same counter: a signal through the copy is seen by the original.
        var one: UInt64 = 1
        #expect(write(eventCopy.rawValue, &one, 8) == 8)
        #expect(try event.wait() == 1)
    }

    @Test func extraDescriptorsAreDroppedAndReported() throws {
        let pair = try UnixSocket.pair()
        let a = try EventFd()
        let b = try EventFd()
        let c = try EventFd()
        _ = try pair.first.send(
            [1], descriptors: [a.descriptor.rawValue, b.descriptor.rawValue, c.descriptor.rawValue])
        let message = try pair.second.receive(maxBytes: 1, maxDescriptors: 1)
        let truncated = message.descriptorsTruncated
        let count = message.descriptorCount
        #expect(truncated)
        #expect(count <= 1)
    }

    @Test func untakenDescriptorsAreClosedWithTheMessage() throws {
        // Pass a pipe's write end. Once our original and the received copy are
        // both closed, the reader sees end-of-file; a leaked copy would keep it open.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let reader = FileDescriptor(owning: ends[0])
        let pair = try UnixSocket.pair()
        do {
            let writer = FileDescriptor(owning: ends[1])
            _ = try pair.first.send([1], descriptors: [writer.rawValue])
        }
        do {
            let message = try pair.second.receive(maxBytes: 1, maxDescriptors: 1)
            let count = message.descriptorCount
            #expect(count == 1)
            #expect(fcntl(reader.rawValue, F_SETFL, O_NONBLOCK) == 0)
            var byte: UInt8 = 0
            #expect(read(reader.rawValue, &byte, 1) == -1)  // a writer is still open: EAGAIN, not EOF
        }
        var byte: UInt8 = 0
        #expect(read(reader.rawValue, &byte, 1) == 0)
    }

    @Test func plainBytesWithoutDescriptors() throws {
        let pair = try UnixSocket.pair()
        #expect(try pair.second.send(Array("hello".utf8)) == 5)
        let message = try pair.first.receive(maxBytes: 16)
        let bytes = message.bytes
        let count = message.descriptorCount
        #expect(bytes == Array("hello".utf8))
        #expect(count == 0)
    }

    @Test func misuseIsATypedError() throws {
        let pair = try UnixSocket.pair()
        let event = try EventFd()
        #expect(throws: SystemError("sendmsg(SCM_RIGHTS)", errno: .invalidArgument)) {
            _ = try pair.first.send([], descriptors: [event.descriptor.rawValue])
        }
        let tooMany = [Int32](repeating: event.descriptor.rawValue, count: 254)
        #expect(throws: SystemError("sendmsg(SCM_RIGHTS)", errno: .invalidArgument)) {
            _ = try pair.first.send([1], descriptors: tooMany)
        }
        #expect(throws: SystemError("sendmsg", errno: .badFileDescriptor)) {
            _ = try pair.first.send([1], descriptors: [-1])
        }
    }

    @Test func closedPeerIsEPIPENotASignal() throws {
        let first = try UnixSocket.pair().takeFirst()  // the second end is closed
        // Without MSG_NOSIGNAL this write would raise SIGPIPE and end the test process.
        #expect(throws: SystemError("sendmsg", errno: Errno(rawValue: EPIPE))) { _ = try first.send([1]) }
    }

    @Test func receiveIntoGathersPiecesAndReportsAClosedPeer() throws {
        let pair = try UnixSocket.pair()
        _ = try pair.first.send([1, 2, 3])
        _ = try pair.first.send([4, 5])
        var bytes: [UInt8] = [0]
        #expect(try pair.second.receive(into: &bytes, upTo: 6))
        #expect(bytes == [0, 1, 2, 3, 4, 5])
        _ = try pair.first.send([6])
        let second = pair.takeSecond()  // the sender closes after one byte
        #expect(try second.receive(into: &bytes, upTo: 10) == false)
        #expect(bytes == [0, 1, 2, 3, 4, 5, 6])
    }

    @Test func acceptTakesOneClientAndSaysWhenNoneWaits() throws {
        let path = "/tmp/vmmsysutil-accept-\(getpid()).sock"
        unlink(path)
        defer { unlink(path) }
        let listener = try UnixSocket.listen(at: path, backlog: 2, nonBlocking: true)
        #expect(try UnixSocket.accept(listener, nonBlocking: true) == nil)
        let client = UnixSocket(try UnixSocket.connect(to: path))
        guard let accepted = try UnixSocket.accept(listener, nonBlocking: true) else {
            Issue.record("the waiting client was not accepted")
            return
        }
        #expect(fcntl(accepted.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(accepted.rawValue, F_GETFL) & O_NONBLOCK != 0)
        _ = try client.send([42])
        #expect(try UnixSocket(accepted).receive(maxBytes: 1).bytes == [42])
    }
}

private struct Missing: Error {}
