// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import VMMSysUtil
import VMMemory

/// The Linux file calls the block backend's bounce path needs (guest-memory transfers go
/// through VMMemoryLinux's `GuestIOVectors`; `fallocate` and `O_DIRECT` come from
/// VMMSysUtil's `FileSpace`, since Swift's Glibc module hides them).
enum BlockFileCalls {
    /// Which way data moves.
    enum Direction { case read, write }

    /// `O_DIRECT`.
    static var directFlag: Int32 { FileSpace.directIOFlag }
    /// Fills `buffer` from the file at `offset` (`pread`, looping); the file ending early is an error.
    static func readFully(
        _ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: UInt64
    ) throws(DiskImageError) {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            // SAFETY: done < buffer.count, so the pointer and length stay inside `buffer`.
            let result = unsafe pread(descriptor, base + done, buffer.count - done, off_t(offset + UInt64(done)))
            if result < 0 {
                if Errno.current == .interrupted { continue }
                throw .io(SystemError.current("pread"))
            }
            if result == 0 { throw .unexpectedEndOfFile(offset: offset + UInt64(done)) }
            done += result
        }
    }

    /// Writes all of `buffer` to the file at `offset` (`pwrite`, looping).
    static func writeFully(
        _ descriptor: Int32, from buffer: UnsafeRawBufferPointer, offset: UInt64
    ) throws(DiskImageError) {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            // SAFETY: done < buffer.count, so the pointer and length stay inside `buffer`.
            let result = unsafe pwrite(descriptor, base + done, buffer.count - done, off_t(offset + UInt64(done)))
            if result < 0 {
                if Errno.current == .interrupted { continue }
                throw .io(SystemError.current("pwrite"))
            }
            if result == 0 { throw .io(SystemError("pwrite", errno: Errno(rawValue: EIO))) }
            done += result
        }
    }
}
