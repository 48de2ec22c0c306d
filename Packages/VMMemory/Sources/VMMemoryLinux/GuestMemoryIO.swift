// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import VMMSysUtil
import VMMemory

/// Why moving bytes between a file descriptor and guest memory failed.
///
/// ```swift
/// do {
///     try memory.readExactly(from: disk.rawValue, fileOffset: 0, into: GuestAddress(0x10_0000), length: 512)
/// } catch .memory(let error) {
///     print("guest gave a bad buffer: \(error)")
/// } catch {
///     print(error)
/// }
/// ```
public enum GuestMemoryIOError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The guest range is invalid; no I/O was started.
    case memory(GuestMemoryError)
    /// The system call failed.
    case system(SystemError)
    /// The file ended after `transferred` of `requested` bytes.
    case endOfFile(transferred: Int, requested: Int)

    /// One line naming what failed.
    public var description: String {
        switch self {
        case .memory(let error): return error.description
        case .system(let error): return error.description
        case .endOfFile(let transferred, let requested):
            return "end of file after \(transferred) of \(requested) bytes"
        }
    }
}

/// Scatter-gather I/O between file descriptors and guest memory: `preadv` and
/// `pwritev` (or `readv`/`writev` without an offset) on the host pieces of a guest
/// range, so data moves straight between the kernel and guest RAM with no bounce
/// buffer. The range may span regions; it is validated before any I/O starts.
extension GuestMemory {
    /// Reads up to `length` bytes from `descriptor` into guest memory at `address`;
    /// returns the byte count (short at end of file, or as the kernel decides).
    ///
    /// - Parameter fileOffset: where to read in the file (`preadv`), or `nil` for
    ///   the current position (`readv`, for pipes, sockets and tap devices).
    public func read(
        from descriptor: Int32, fileOffset: Int64?, into address: GuestAddress, length: Int
    ) throws(GuestMemoryIOError) -> Int {
        let pieces = try pieces(at: address, length: length)
        let count = try transfer(pieces) { vectors, count in
            if let fileOffset { return preadv(descriptor, vectors, count, off_t(fileOffset)) }
            return readv(descriptor, vectors, count)
        } call: {
            fileOffset == nil ? "readv" : "preadv"
        }
        // The kernel wrote guest memory: record it like any other VMM write.
        var remaining = count
        for piece in pieces where remaining > 0 {
            let written = Swift.min(remaining, piece.count)
            (try? piece.subslice(at: 0, length: UInt64(written)))?.markDirty()
            remaining -= written
        }
        return count
    }

    /// Writes up to `length` bytes of guest memory at `address` to `descriptor`;
    /// returns the byte count.
    ///
    /// - Parameter fileOffset: where to write in the file (`pwritev`), or `nil` for
    ///   the current position (`writev`).
    public func write(
        to descriptor: Int32, fileOffset: Int64?, from address: GuestAddress, length: Int
    ) throws(GuestMemoryIOError) -> Int {
        let pieces = try pieces(at: address, length: length)
        return try transfer(pieces) { vectors, count in
            if let fileOffset { return pwritev(descriptor, vectors, count, off_t(fileOffset)) }
            return writev(descriptor, vectors, count)
        } call: {
            fileOffset == nil ? "writev" : "pwritev"
        }
    }

    /// Reads exactly `length` bytes, looping over short reads; end of file first is an error.
    public func readExactly(
        from descriptor: Int32, fileOffset: Int64?, into address: GuestAddress, length: Int
    ) throws(GuestMemoryIOError) {
        try checkIO(address, length)
        var done = 0
        while done < length {
            let count = try read(
                from: descriptor, fileOffset: fileOffset.map { $0 + Int64(done) },
                into: GuestAddress(address.rawValue + UInt64(done)), length: length - done)
            if count == 0 { throw .endOfFile(transferred: done, requested: length) }
            done += count
        }
    }

    /// Writes exactly `length` bytes, looping over short writes.
    public func writeAll(
        to descriptor: Int32, fileOffset: Int64?, from address: GuestAddress, length: Int
    ) throws(GuestMemoryIOError) {
        try checkIO(address, length)
        var done = 0
        while done < length {
            let count = try write(
                to: descriptor, fileOffset: fileOffset.map { $0 + Int64(done) },
                from: GuestAddress(address.rawValue + UInt64(done)), length: length - done)
            if count == 0 { throw .endOfFile(transferred: done, requested: length) }
            done += count
        }
    }

    private func checkIO(_ address: GuestAddress, _ length: Int) throws(GuestMemoryIOError) {
        guard length >= 0 else { throw .memory(.addressOverflow(address, length: UInt64(truncatingIfNeeded: length))) }
        do { try checkRange(at: address, length: UInt64(length)) } catch { throw .memory(error) }
    }

    private func pieces(at address: GuestAddress, length: Int) throws(GuestMemoryIOError) -> [VolatileSlice] {
        try checkIO(address, length)
        do { return try slices(at: address, length: UInt64(length)) } catch { throw .memory(error) }
    }

    /// Runs one vectored call over at most 1024 pieces (Linux's UIO_MAXIOV; IOV_MAX does
    /// not import), retrying on EINTR. More pieces come back as a short count.
    private func transfer(
        _ pieces: [VolatileSlice], _ body: (UnsafePointer<iovec>, Int32) -> Int, call: () -> String
    ) throws(GuestMemoryIOError) -> Int {
        guard !pieces.isEmpty else { return 0 }
        let vectors = pieces.prefix(1024).map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        // SAFETY: every iovec points into a live region piece validated by `slices(at:length:)`.
        let result = vectors.withUnsafeBufferPointer { buffer in
            do throws(SystemError) {
                return Result<Int, SystemError>.success(
                    try retryOnInterrupt(call()) { body(buffer.baseAddress!, Int32(buffer.count)) })
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let count): return count
        case .failure(let error): throw .system(error)
        }
    }
}
