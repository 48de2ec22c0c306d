// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import VMMSysUtil
import VMMemory

/// The Linux file calls the block backend needs (`fallocate` and `O_DIRECT` come from
/// VMMSysUtil's `FileSpace`, since Swift's Glibc module hides them).
enum BlockFileCalls {
    /// Which way data moves.
    enum Direction { case read, write }

    /// `O_DIRECT`.
    static var directFlag: Int32 { FileSpace.directIOFlag }
    /// `UIO_MAXIOV`: the most vectors one `preadv`/`pwritev` takes.
    static var maximumVectors: Int { 1024 }

    /// Moves every byte of `slices` from or to the file at `offset` with `preadv`/`pwritev`
    /// straight on guest memory, looping over short transfers and `EINTR`, at most
    /// ``maximumVectors`` buffers per call. The file ending early is an error.
    static func transfer(
        _ direction: Direction, _ descriptor: Int32, _ slices: [VolatileSlice], offset: UInt64
    ) throws(DiskImageError) {
        var vectors = slices.filter { $0.count > 0 }.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        // withUnsafeMutableBufferPointer takes an untyped-throwing closure; the error leaves as a value.
        // SAFETY: the buffer is the vectors array's own storage; indices below stay under buffer.count.
        let failure: DiskImageError? = vectors.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return nil }
            var first = 0
            var position = offset
            while first < buffer.count {
                let count = Int32(min(buffer.count - first, maximumVectors))
                // SAFETY: first + count <= buffer.count; each vector points into guest memory that
                // the slices' memory map keeps mapped for the duration of the request.
                let result =
                    direction == .read
                    ? preadv(descriptor, base + first, count, off_t(position))
                    : pwritev(descriptor, base + first, count, off_t(position))
                if result < 0 {
                    let error = Errno.current
                    if error == .interrupted { continue }
                    return .io(SystemError(direction == .read ? "preadv" : "pwritev", errno: error))
                }
                if result == 0 { return .unexpectedEndOfFile(offset: position) }
                position += UInt64(result)
                var moved = result
                // Step over the vectors the call completed; trim a partly done one.
                while moved > 0 && first < buffer.count {
                    if moved >= buffer[first].iov_len {
                        moved -= buffer[first].iov_len
                        first += 1
                    } else {
                        // SAFETY: moved < iov_len, so the new base stays inside the same guest buffer.
                        buffer[first].iov_base = buffer[first].iov_base.map { $0 + moved }
                        buffer[first].iov_len -= moved
                        moved = 0
                    }
                }
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// Fills `buffer` from the file at `offset` (`pread`, looping); the file ending early is an error.
    static func readFully(
        _ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: UInt64
    ) throws(DiskImageError) {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            // SAFETY: done < buffer.count, so the pointer and length stay inside `buffer`.
            let result = pread(descriptor, base + done, buffer.count - done, off_t(offset + UInt64(done)))
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
            let result = pwrite(descriptor, base + done, buffer.count - done, off_t(offset + UInt64(done)))
            if result < 0 {
                if Errno.current == .interrupted { continue }
                throw .io(SystemError.current("pwrite"))
            }
            if result == 0 { throw .io(SystemError("pwrite", errno: Errno(rawValue: EIO))) }
            done += result
        }
    }
}
