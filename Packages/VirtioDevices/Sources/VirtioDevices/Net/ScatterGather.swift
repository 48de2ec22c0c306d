// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import VMMSysUtil
import VMMemory

/// The host pieces of a frame's guest buffers as an `iovec` array, so `readv`/`writev`
/// move the bytes straight between the tap and guest RAM. One instance serves frame
/// after frame: its arrays keep their capacity, so the data path does not allocate.
///
/// Used on the event loop thread only, under the device's lock.
final class ScatterGather {
    /// A vectored call's byte count or error.
    enum IOResult {
        case done(Int)
        case failed(Errno)
    }

    /// Linux's `UIO_MAXIOV` (`IOV_MAX` does not import): more vectors fail with `EINVAL`.
    static var vectorLimit: Int { 1024 }
    /// Bytes of the host overflow buffer behind a receive frame (see ``read(from:)``).
    static var overflowSize: Int { 64 }

    /// A piece the kernel may write whose region tracks dirty pages.
    struct DirtyPiece {
        let bitmap: DirtyBitmapView
        let regionOffset: UInt64
        let frameOffset: Int
        let length: Int
    }

    private(set) var vectors: [iovec] = []
    private var dirtyPieces: [DirtyPiece] = []
    /// Guest bytes the vectors cover.
    private(set) var byteCount = 0
    private let overflow: UnsafeMutableRawPointer

    init() {
        vectors.reserveCapacity(Self.vectorLimit)
        dirtyPieces.reserveCapacity(Self.vectorLimit)
        // Owned by this object: freed in deinit, handed to the kernel only inside `read`.
        overflow = UnsafeMutableRawPointer.allocate(byteCount: Self.overflowSize, alignment: 16)
    }

    deinit { overflow.deallocate() }

    /// Whether no guest piece fits any more (one vector stays free for the overflow buffer).
    var isFull: Bool { vectors.count >= Self.vectorLimit - 1 }

    /// Forgets the previous frame, keeping the storage.
    func removeAll() {
        vectors.removeAll(keepingCapacity: true)
        dirtyPieces.removeAll(keepingCapacity: true)
        byteCount = 0
    }

    /// Appends the host pieces of `[address, address + length)`. Returns the bytes added,
    /// fewer than `length` when the vectors ran out, or nil when part of the range is not
    /// guest memory (chains are checked when popped, so that means the map changed).
    func append(_ memory: some GuestMemory, _ address: GuestAddress, _ length: Int) -> Int? {
        var done = 0
        while done < length && !isFull {
            let (next, overflowed) = address.rawValue.addingReportingOverflow(UInt64(done))
            guard !overflowed, let place = memory.resolve(GuestAddress(next)) else { return nil }
            let chunk = Int(min(place.available, UInt64(length - done)))
            // The host pointer stays valid while the memory map lives: the activation holds it
            // for as long as this frame's I/O runs.
            vectors.append(iovec(iov_base: place.hostAddress, iov_len: chunk))
            if let bitmap = place.dirty {
                dirtyPieces.append(
                    DirtyPiece(
                        bitmap: bitmap, regionOffset: place.regionOffset.rawValue, frameOffset: byteCount + done,
                        length: chunk))
            }
            done += chunk
        }
        byteCount += done
        return done
    }

    /// `readv` of one frame into the pieces, then into a small host overflow buffer: a
    /// count above ``byteCount`` means the frame did not fit the guest buffers.
    func read(from descriptor: Int32) -> IOResult {
        vectors.append(iovec(iov_base: overflow, iov_len: Self.overflowSize))
        defer { vectors.removeLast() }
        while true {
            // SAFETY: each vector covers a mapped piece of guest memory resolved by `append`
            // (the memory outlives the call) or the overflow buffer this object owns.
            let count = vectors.withUnsafeBufferPointer { buffer in
                readv(descriptor, buffer.baseAddress, Int32(buffer.count))
            }
            if count >= 0 { return .done(count) }
            let error = Errno.current
            if error != .interrupted { return .failed(error) }
        }
    }

    /// `writev` of the pieces as one frame.
    func write(to descriptor: Int32) -> IOResult {
        while true {
            // SAFETY: each vector covers a mapped piece of guest memory resolved by `append`;
            // the kernel only reads them.
            let count = vectors.withUnsafeBufferPointer { buffer in
                writev(descriptor, buffer.baseAddress, Int32(buffer.count))
            }
            if count >= 0 { return .done(count) }
            let error = Errno.current
            if error != .interrupted { return .failed(error) }
        }
    }

    /// Records the first `count` bytes, which the kernel wrote behind the memory API's
    /// back, in the dirty bitmaps of the regions that keep one (live migration needs them).
    func markWritten(_ count: Int) {
        for piece in dirtyPieces where piece.frameOffset < count {
            piece.bitmap.mark(offset: piece.regionOffset, length: UInt64(min(piece.length, count - piece.frameOffset)))
        }
    }
}
