// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import VMMSysUtil
import VMMemory
import VMMemoryLinux

/// The outcome of one non-blocking transfer on a stream socket.
enum StreamTransfer: Equatable {
    /// This many bytes (more than zero) moved.
    case transferred(Int)
    /// Nothing to read, or no room to write, right now.
    case wouldBlock
    /// The peer will send nothing more (a read returned 0).
    case endOfStream
    /// The socket failed (`EPIPE`, `ECONNRESET`...): the connection is over.
    case failed(Errno)
}

/// Non-blocking `AF_UNIX` stream socket calls for the vsock backend. Every
/// descriptor it creates is non-blocking and close-on-exec; every write uses
/// `MSG_NOSIGNAL`, so a peer that went away is an error, never a `SIGPIPE`.
enum UnixStreamIO {
    /// Binds and listens on `path`, non-blocking. An existing file there fails with `EADDRINUSE`.
    static func listen(at path: String, backlog: Int32) throws(SystemError) -> FileDescriptor {
        try UnixSocket.listen(at: path, backlog: backlog, nonBlocking: true)
    }

    /// Connects to the listener at `path` without blocking.
    static func connect(to path: String) throws(SystemError) -> FileDescriptor {
        try UnixSocket.connect(to: path, nonBlocking: true)
    }

    /// Accepts one pending client (non-blocking, close-on-exec); nil when none is waiting.
    static func accept(_ listener: borrowing FileDescriptor) throws(SystemError) -> FileDescriptor? {
        try UnixSocket.accept(listener, nonBlocking: true)
    }

    /// Reads into `buffer` (`peek`: leaves the bytes queued).
    static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, peek: Bool = false) -> StreamTransfer {
        let flags = Int32(MSG_DONTWAIT) | (peek ? Int32(MSG_PEEK) : 0)
        while true {
            // SAFETY: recv writes at most buffer.count bytes into the caller's buffer, valid for the call.
            let count = unsafe recv(fd, buffer.baseAddress, buffer.count, flags)
            if count > 0 { return .transferred(count) }
            // SAFETY: reads the buffer's length only.
            if count == 0 { return unsafe buffer.isEmpty ? .wouldBlock : .endOfStream }
            let errno = Errno.current
            if errno == .interrupted { continue }
            return errno == .wouldBlock ? .wouldBlock : .failed(errno)
        }
    }

    /// Reads into `buffer`, copying the result out as an array.
    static func receive(_ fd: Int32, maximum: Int, peek: Bool = false) -> (StreamTransfer, [UInt8]) {
        var bytes = [UInt8](repeating: 0, count: max(0, maximum))
        // SAFETY: receive(_:into:) writes at most bytes.count bytes into the array's storage.
        let outcome = unsafe bytes.withUnsafeMutableBytes { unsafe receive(fd, into: $0, peek: peek) }
        if case .transferred(let count) = outcome { return (outcome, Array(bytes[..<count])) }
        return (outcome, [])
    }

    /// Writes as much of `bytes` as the socket takes now.
    static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> StreamTransfer {
        // SAFETY: reads the buffer's length only.
        guard unsafe !bytes.isEmpty else { return .transferred(0) }
        while true {
            // SAFETY: send reads at most bytes.count bytes of the caller's buffer, valid for the call.
            let count = unsafe Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
            if count >= 0 { return count == 0 ? .wouldBlock : .transferred(count) }
            let errno = Errno.current
            if errno == .interrupted { continue }
            return errno == .wouldBlock ? .wouldBlock : .failed(errno)
        }
    }

    /// Writes as much of `bytes` as the socket takes now.
    static func send(_ fd: Int32, _ bytes: [UInt8]) -> StreamTransfer {
        // SAFETY: send(_:_:) only reads the array's storage, alive for the call.
        unsafe bytes.withUnsafeBytes { unsafe send(fd, $0) }
    }

    /// `sendmsg` straight from guest memory (no copy through the host heap).
    static func send(_ fd: Int32, slices: [VolatileSlice]) -> StreamTransfer {
        let vectors = GuestIOVectors(slices)
        guard vectors.byteCount > 0 else { return .transferred(0) }
        do {
            let count = try vectors.send(to: fd, flags: Int32(MSG_DONTWAIT))
            return count == 0 ? .wouldBlock : .transferred(count)
        } catch {
            return error.errno == .wouldBlock ? .wouldBlock : .failed(error.errno)
        }
    }

    /// `recvmsg` straight into guest memory; what the kernel wrote is marked dirty.
    static func receive(_ fd: Int32, slices: [VolatileSlice]) -> StreamTransfer {
        let vectors = GuestIOVectors(slices)
        guard vectors.byteCount > 0 else { return .wouldBlock }
        do {
            let count = try vectors.receive(from: fd, flags: Int32(MSG_DONTWAIT))
            return count == 0 ? .endOfStream : .transferred(count)
        } catch {
            return error.errno == .wouldBlock ? .wouldBlock : .failed(error.errno)
        }
    }

    /// Stops sending on `fd`; the peer reads end of stream.
    static func shutdownWrite(_ fd: Int32) {
        _ = shutdown(fd, Int32(SHUT_WR))
    }

    /// The (device, inode) pair of the file at `path`, or nil.
    static func identity(of path: String) -> FileIdentity? {
        var info = stat()
        // SAFETY: `info` is a local stat struct, exactly what lstat fills; `path` is bridged for the call.
        guard unsafe lstat(path, &info) == 0 else { return nil }
        return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }
}

/// Which file a path named when it was looked at, to unlink only our own socket.
struct FileIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64
}
