// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import VMMSysUtil
import VMMemory

/// Guest buffers as an `iovec` array, moved to or from a file descriptor by one
/// vectored system call: the one place where the kernel reads or writes guest memory
/// for a device (block's `preadv`/`pwritev`, net's tap `readv`/`writev`, vsock's
/// `sendmsg`/`recvmsg`).
///
/// Every call retries `EINTR`, passes at most ``limit`` vectors (Linux's
/// `UIO_MAXIOV`), and records the bytes the kernel wrote in the dirty bitmaps of the
/// regions that keep one. The `…Fully` forms loop over short transfers. A value keeps
/// its arrays' capacity across ``removeAll()``, so a device that reuses one does not
/// allocate on its data path.
///
/// ```swift
/// var vectors = GuestIOVectors()
/// guard vectors.append(memory, GuestAddress(0x10_0000), 512) == 512 else { return }
/// try vectors.readFully(from: disk.rawValue, at: 0)  // 512 bytes of the file, straight into guest RAM
/// ```
@safe  // SAFETY: every vector is a VolatileSlice (bounds-checked guest memory) or the spill buffer this value owns.
public struct GuestIOVectors {
    /// Linux's `UIO_MAXIOV` (`IOV_MAX` does not import): more vectors fail with `EINVAL`.
    public static var limit: Int { 1024 }

    /// The vectors still to transfer start here (the `…Fully` loops step over done ones).
    private var first = 0
    // SAFETY: iovec holds a raw pointer; each entry is set below from a live slice or the spill buffer.
    private var vectors: [iovec] = unsafe []
    /// The guest slice behind each vector but the spill buffer's.
    private var slices: [VolatileSlice] = []
    /// Host bytes after the guest pieces, or nil; when set, its vector is always the last.
    private let spill: SpillBuffer?
    /// Guest bytes the remaining vectors cover (the spill buffer not counted).
    public private(set) var byteCount = 0

    /// An empty set with room for `capacity` vectors.
    ///
    /// - Parameter spill: bytes of host memory read after the guest pieces (net uses 64
    ///   to learn that a frame did not fit the guest's buffers: ``read(from:at:)`` then
    ///   returns more than ``byteCount``). What lands there is dropped.
    public init(capacity: Int = 0, spill: Int = 0) {
        // SAFETY: only reserves the array's storage; no iovec is read or written.
        unsafe vectors.reserveCapacity(capacity + 1)
        slices.reserveCapacity(capacity)
        self.spill = spill > 0 ? SpillBuffer(count: spill) : nil
        if let buffer = self.spill {
            // SAFETY: the buffer is owned by `self.spill`, so it lives as long as these vectors.
            unsafe vectors.append(iovec(iov_base: buffer.bytes.baseAddress, iov_len: buffer.bytes.count))
        }
    }

    /// The guest pieces of `slices`, in order (empty ones are skipped).
    public init(_ slices: [VolatileSlice]) {
        self.init(capacity: slices.count)
        for slice in slices { append(slice) }
    }

    /// Whether the vectors fill one call: ``read(from:at:)`` and the other single calls
    /// move at most this many (the `…Fully` loops move them all).
    public var isFull: Bool {
        // SAFETY: reads the array's count only, not the pointers in it.
        unsafe vectors.count >= Self.limit
    }

    /// Forgets every guest vector, keeping the storage (and the spill buffer).
    public mutating func removeAll() {
        // SAFETY: the guest vectors are the first `slices.count` entries; only the spill's stays.
        unsafe vectors.removeSubrange(0..<slices.count)
        slices.removeAll(keepingCapacity: true)
        first = 0
        byteCount = 0
    }

    /// Appends one guest slice (any number: the `…Fully` loops take ``limit`` per call).
    public mutating func append(_ slice: VolatileSlice) {
        guard slice.count > 0 else { return }
        precondition(first == 0, "GuestIOVectors: append after a transfer consumed vectors")
        // SAFETY: the slice is a bounds-checked view of mapped guest memory; the memory object
        // that made it keeps it mapped while the caller holds it, which covers every call below.
        unsafe vectors.insert(iovec(iov_base: slice.baseAddress, iov_len: slice.count), at: slices.count)
        slices.append(slice)
        byteCount += slice.count
    }

    /// Appends the host pieces of guest `[address, address + length)` while the vectors
    /// fit one call. Returns the bytes added, fewer than `length` when ``isFull``, or nil when part of the range
    /// is not guest memory (then the vectors appended for it stay: call ``removeAll()``).
    public mutating func append(_ memory: some GuestMemory, _ address: GuestAddress, _ length: Int) -> Int? {
        var done = 0
        while done < length && !isFull {
            let (next, overflowed) = address.rawValue.addingReportingOverflow(UInt64(done))
            guard !overflowed, let place = memory.resolve(GuestAddress(next)) else { return nil }
            let chunk = Int(min(place.available, UInt64(length - done)))
            guard let slice = try? memory.slice(at: GuestAddress(next), length: UInt64(chunk)) else { return nil }
            append(slice)
            done += chunk
        }
        return done
    }

    // MARK: One call

    /// `readv`, or `preadv` at `offset`: returns the byte count (0 at end of file; above
    /// ``byteCount`` when bytes reached the spill buffer) and marks what the kernel wrote
    /// in guest memory dirty.
    public func read(from descriptor: Int32, at offset: UInt64? = nil) throws(SystemError) -> Int {
        // SAFETY: `call` hands over `count` live iovecs (see `call`); the kernel writes only inside each one.
        let count = try unsafe call(offset == nil ? "readv" : "preadv") { vectors, count in
            if let offset { return unsafe preadv(descriptor, vectors, count, off_t(truncatingIfNeeded: offset)) }
            return unsafe readv(descriptor, vectors, count)
        }
        markWritten(count)
        return count
    }

    /// `writev`, or `pwritev` at `offset`: returns the byte count.
    public func write(to descriptor: Int32, at offset: UInt64? = nil) throws(SystemError) -> Int {
        // SAFETY: `call` hands over `count` live iovecs (see `call`); the kernel only reads them.
        try unsafe call(offset == nil ? "writev" : "pwritev") { vectors, count in
            if let offset { return unsafe pwritev(descriptor, vectors, count, off_t(truncatingIfNeeded: offset)) }
            return unsafe writev(descriptor, vectors, count)
        }
    }

    /// `recvmsg` with `flags` on a socket: returns the byte count (0 when the peer is done)
    /// and marks what the kernel wrote dirty.
    public func receive(from socket: Int32, flags: Int32 = 0) throws(SystemError) -> Int {
        // SAFETY: `call` hands over `count` live iovecs; the kernel writes only inside each one.
        let count = try unsafe call("recvmsg") { vectors, count in
            var message = unsafe msghdr()
            // SAFETY: msg_iov points at `count` iovecs that live for this call only.
            unsafe message.msg_iov = UnsafeMutablePointer(mutating: vectors)
            unsafe message.msg_iovlen = Int(count)
            return unsafe recvmsg(socket, &message, flags)
        }
        markWritten(count)
        return count
    }

    /// `sendmsg` with `flags | MSG_NOSIGNAL` on a socket (a peer gone is `EPIPE`, never
    /// `SIGPIPE`): returns the byte count.
    public func send(to socket: Int32, flags: Int32 = 0) throws(SystemError) -> Int {
        // SAFETY: `call` hands over `count` live iovecs; the kernel only reads them.
        try unsafe call("sendmsg") { vectors, count in
            var message = unsafe msghdr()
            // SAFETY: msg_iov points at `count` iovecs that live for this call only; sendmsg only reads them.
            unsafe message.msg_iov = UnsafeMutablePointer(mutating: vectors)
            unsafe message.msg_iovlen = Int(count)
            return unsafe sendmsg(socket, &message, flags | Int32(MSG_NOSIGNAL))
        }
    }

    // MARK: Every byte

    /// Fills every vector from the file at `offset` (or, with nil, at its current position),
    /// looping over short reads: the set is empty afterwards. The file ending first is
    /// ``GuestMemoryIOError/endOfFile(transferred:requested:)``.
    public mutating func readFully(from descriptor: Int32, at offset: UInt64?) throws(GuestMemoryIOError) {
        try untilEmpty { vectors, done throws(SystemError) in
            try vectors.read(from: descriptor, at: offset.map { $0 &+ UInt64(done) })
        }
    }

    /// Writes every vector to the file at `offset` (or, with nil, at its current position),
    /// looping over short writes: the set is empty afterwards. A write of nothing is
    /// ``GuestMemoryIOError/endOfFile(transferred:requested:)``.
    public mutating func writeFully(to descriptor: Int32, at offset: UInt64?) throws(GuestMemoryIOError) {
        try untilEmpty { vectors, done throws(SystemError) in
            try vectors.write(to: descriptor, at: offset.map { $0 &+ UInt64(done) })
        }
    }

    /// Runs `transfer` (given the bytes done so far) and consumes what it moved until no byte is left.
    private mutating func untilEmpty(
        _ transfer: (borrowing GuestIOVectors, Int) throws(SystemError) -> Int
    ) throws(GuestMemoryIOError) {
        let requested = byteCount
        while byteCount > 0 {
            let count: Int
            do { count = try transfer(self, requested - byteCount) } catch { throw .system(error) }
            if count == 0 { throw .endOfFile(transferred: requested - byteCount, requested: requested) }
            consume(count)
        }
    }

    /// Drops the first `count` bytes (a short transfer's done part): whole vectors are
    /// stepped over, a partly done one is trimmed.
    public mutating func consume(_ count: Int) {
        var left = min(count, byteCount)
        byteCount -= left
        while left > 0, first < slices.count {
            // SAFETY: first < slices.count <= vectors.count; reads the length field only.
            let length = unsafe vectors[first].iov_len
            if left >= length {
                left -= length
                first += 1
                continue
            }
            // SAFETY: left < iov_len, so the new base stays inside the same buffer.
            unsafe vectors[first].iov_base = unsafe vectors[first].iov_base.map { unsafe $0 + left }
            unsafe vectors[first].iov_len -= left
            if let rest = try? slices[first].subslice(at: UInt64(left), length: UInt64(length - left)) {
                slices[first] = rest
            }
            left = 0
        }
    }

    // MARK: Internals

    /// Runs `body` on the remaining vectors (at most ``limit``), retrying `EINTR`.
    private func call(
        _ name: String, _ body: (UnsafePointer<iovec>, Int32) -> Int
    ) throws(SystemError) -> Int {
        // SAFETY: reads the array's count only.
        let count = unsafe min(vectors.count - first, Self.limit)
        guard count > 0 else { return 0 }
        // SAFETY: `first + count <= vectors.count`, so the pointer and count stay inside the array's
        // storage, which lives for the call; each vector is a live guest slice or a vouched-for host buffer.
        return try unsafe vectors.withUnsafeBufferPointer { buffer throws(SystemError) in
            try retryOnInterrupt(name) { unsafe body(buffer.baseAddress! + first, Int32(count)) }
        }
    }

    /// Marks the first `count` bytes of the remaining guest slices dirty (the kernel
    /// wrote them behind the memory API's back; live migration must see them).
    private func markWritten(_ count: Int) {
        var left = count
        var index = first
        while left > 0, index < slices.count {
            let slice = slices[index]
            if left >= slice.count {
                slice.markDirty()
            } else {
                (try? slice.subslice(at: 0, length: UInt64(left)))?.markDirty()
            }
            left -= min(left, slice.count)
            index += 1
        }
    }
}

/// The host bytes behind a ``GuestIOVectors``' guest pieces, freed with the last vectors
/// value that shares them.
@safe  // SAFETY: owns its allocation (freed in deinit); only GuestIOVectors hands it to the kernel.
private final class SpillBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(count: Int) {
        // SAFETY: a fresh allocation this object owns; freed exactly once, in deinit.
        unsafe bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
    }

    // SAFETY: the allocation from init, which nothing uses once the last owner is gone.
    deinit { unsafe bytes.deallocate() }
}
