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

/// Scatter-gather I/O between file descriptors and guest memory by address: the
/// range may span regions and is validated before any I/O starts; the transfer is
/// one ``GuestIOVectors`` call (or its `…Fully` loop), so data moves straight
/// between the kernel and guest RAM with no bounce buffer.
extension GuestMemory {
    /// Reads up to `length` bytes from `descriptor` into guest memory at `address`;
    /// returns the byte count (short at end of file, or as the kernel decides).
    ///
    /// - Parameter fileOffset: where to read in the file (`preadv`), or `nil` for
    ///   the current position (`readv`, for pipes, sockets and tap devices).
    public func read(
        from descriptor: Int32, fileOffset: Int64?, into address: GuestAddress, length: Int
    ) throws(GuestMemoryIOError) -> Int {
        let vectors = try vectors(at: address, length: length)
        do { return try vectors.read(from: descriptor, at: fileOffset.map { UInt64(bitPattern: $0) }) } catch {
            throw .system(error)
        }
    }

    /// Writes up to `length` bytes of guest memory at `address` to `descriptor`;
    /// returns the byte count.
    ///
    /// - Parameter fileOffset: where to write in the file (`pwritev`), or `nil` for
    ///   the current position (`writev`).
    public func write(
        to descriptor: Int32, fileOffset: Int64?, from address: GuestAddress, length: Int
    ) throws(GuestMemoryIOError) -> Int {
        let vectors = try vectors(at: address, length: length)
        do { return try vectors.write(to: descriptor, at: fileOffset.map { UInt64(bitPattern: $0) }) } catch {
            throw .system(error)
        }
    }

    /// Reads exactly `length` bytes, looping over short reads; end of file first is an error.
    public func readExactly(
        from descriptor: Int32, fileOffset: Int64?, into address: GuestAddress, length: Int
    ) throws(GuestMemoryIOError) {
        var vectors = try vectors(at: address, length: length)
        try vectors.readFully(from: descriptor, at: fileOffset.map { UInt64(bitPattern: $0) })
    }

    /// Writes exactly `length` bytes, looping over short writes.
    public func writeAll(
        to descriptor: Int32, fileOffset: Int64?, from address: GuestAddress, length: Int
    ) throws(GuestMemoryIOError) {
        var vectors = try vectors(at: address, length: length)
        try vectors.writeFully(to: descriptor, at: fileOffset.map { UInt64(bitPattern: $0) })
    }

    /// The validated range as vectors (a negative length or a range outside guest memory
    /// fails before any I/O).
    private func vectors(at address: GuestAddress, length: Int) throws(GuestMemoryIOError) -> GuestIOVectors {
        guard length >= 0 else { throw .memory(.addressOverflow(address, length: UInt64(truncatingIfNeeded: length))) }
        do {
            try checkRange(at: address, length: UInt64(length))
            return GuestIOVectors(try slices(at: address, length: UInt64(length)))
        } catch { throw .memory(error) }
    }
}
