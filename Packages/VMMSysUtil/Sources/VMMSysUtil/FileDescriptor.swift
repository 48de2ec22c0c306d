// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc

/// An open file descriptor that this value owns and closes exactly once.
///
/// The type is non-copyable, so ownership is explicit: the descriptor closes
/// when the value is destroyed, or earlier with ``close()``. Borrow
/// ``rawValue`` for calls that take an `Int32`.
///
/// ```swift
/// let fd = try FileDescriptor.open("/dev/null", flags: O_RDWR)
/// try fd.write(Array("hello".utf8))
/// // closed here, when `fd` goes out of scope
/// ```
public struct FileDescriptor: ~Copyable, Sendable {
    /// The raw descriptor number. Valid while this value is alive.
    public let rawValue: Int32

    /// Takes ownership of an open descriptor.
    ///
    /// - Precondition: `rawValue` is non-negative and owned by nobody else.
    public init(owning rawValue: Int32) {
        precondition(rawValue >= 0, "FileDescriptor(owning:) needs an open descriptor, got \(rawValue)")
        self.rawValue = rawValue
    }

    /// Opens `path` with `open(2)`; `O_CLOEXEC` is always added.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o600) throws(SystemError) -> FileDescriptor {
        // SAFETY: `path` is bridged to a NUL-terminated C string that stays valid for the whole open(2) call.
        let fd = try retryOnInterrupt("open(\(path))") { unsafe Glibc.open(path, flags | O_CLOEXEC, mode) }
        return FileDescriptor(owning: fd)
    }

    /// Closes the descriptor now, reporting a failure from `close(2)`.
    ///
    /// Linux releases the descriptor even when `close` fails, so it is never retried.
    public consuming func close() throws(SystemError) {
        let fd = rawValue
        discard self
        if Glibc.close(fd) != 0 { throw SystemError.current("close") }
    }

    /// Gives up ownership and returns the raw descriptor without closing it.
    public consuming func release() -> Int32 {
        let fd = rawValue
        discard self
        return fd
    }

    deinit { _ = Glibc.close(rawValue) }

    /// Reads up to `buffer.count` bytes, retrying on `EINTR`; returns the count read (0 at end of file).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        // SAFETY: the caller vouches (unsafe buffer parameter) that `buffer` is writable memory; read stores at most
        // buffer.count bytes at baseAddress (nil only with count 0, which reads nothing).
        try retryOnInterrupt("read") { unsafe Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Reads from the current position to end of file, retrying on `EINTR`.
    ///
    /// ```swift
    /// let kernel = try FileDescriptor.open("/boot/vmlinux", flags: O_RDONLY | O_CLOEXEC).readToEnd()
    /// ```
    public func readToEnd() throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            // withUnsafeMutableBytes rethrows untyped errors, so the result travels out as a value.
            // SAFETY: read stores at most chunk.count bytes into the array's own storage, live for the call.
            let result = unsafe chunk.withUnsafeMutableBytes { buffer in
                Result { () throws(SystemError) in try unsafe read(into: buffer) }
            }
            let count = try result.get()
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
        }
    }

    /// Writes all of `bytes`, looping over short writes and `EINTR`.
    public func write(_ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let written = unsafe bytes.withUnsafeBytes { raw in
                // SAFETY: offset < raw.count, so the pointer and length stay inside `bytes`.
                unsafe Glibc.write(rawValue, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if Errno.current == .interrupted { continue }
                throw SystemError.current("write")
            }
            offset += written
        }
    }

    /// Duplicates the descriptor (`fcntl(F_DUPFD_CLOEXEC)`); the copy is owned separately.
    public func duplicate() throws(SystemError) -> FileDescriptor {
        let fd = try retryOnInterrupt("fcntl(F_DUPFD_CLOEXEC)") { fcntl(rawValue, F_DUPFD_CLOEXEC, 0) }
        return FileDescriptor(owning: fd)
    }
}
