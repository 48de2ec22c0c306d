// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// A cursor over the device-readable buffers of a chain: reads a request as one
/// byte stream, whatever descriptors the driver split it into.
///
/// ```swift
/// var reader = DescriptorChainReader(chain)
/// let type = try reader.readLittleEndian(UInt32.self, from: memory)  // virtio-blk request type
/// _ = try reader.readLittleEndian(UInt32.self, from: memory)         // reserved
/// let sector = try reader.readLittleEndian(UInt64.self, from: memory)
/// ```
public struct DescriptorChainReader: Sendable {
    @usableFromInline
    var cursor: ChainCursor

    /// A reader over `chain`'s readable buffers.
    @inlinable
    public init(_ chain: DescriptorChain) { cursor = ChainCursor(chain.readable) }

    /// Bytes not read yet.
    @inlinable
    public var remaining: UInt64 { cursor.remaining }
    /// Bytes read (or skipped) so far.
    @inlinable
    public var bytesRead: UInt64 { cursor.consumed }

    /// Fills `buffer` from the chain. Throws without reading when fewer than
    /// `buffer.count` bytes remain.
    @inlinable
    public mutating func read(
        into buffer: UnsafeMutableRawBufferPointer, from memory: some GuestMemory
    ) throws(VirtioQueueError) {
        guard let base = buffer.baseAddress else { return }
        try cursor.forEachPiece(UInt64(buffer.count)) { address, done, chunk throws(GuestMemoryError) in
            // SAFETY: forEachPiece keeps `done + chunk <= buffer.count`.
            try unsafe memory.read(into: UnsafeMutableRawBufferPointer(start: base + done, count: chunk), from: address)
        }
    }

    /// Reads the next `count` bytes into a new array.
    @inlinable
    public mutating func readBytes(_ count: Int, from memory: some GuestMemory) throws(VirtioQueueError) -> [UInt8] {
        let wanted = UInt64(Swift.max(count, 0))
        guard wanted <= remaining else { throw .chainExhausted(requested: wanted, remaining: remaining) }
        var bytes = [UInt8](repeating: 0, count: Int(wanted))
        // Array.withUnsafeMutableBytes rethrows untyped errors, so the typed error leaves as a value.
        // SAFETY: the closure writes only inside `raw`, which covers the array for the call.
        let failure: VirtioQueueError? = unsafe bytes.withUnsafeMutableBytes { raw in
            do throws(VirtioQueueError) {
                try unsafe read(into: raw, from: memory)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
        return bytes
    }

    /// Reads a little-endian integer that may straddle descriptors.
    @inlinable
    public mutating func readLittleEndian<T: FixedWidthInteger>(
        _: T.Type = T.self, from memory: some GuestMemory
    ) throws(VirtioQueueError) -> T {
        let bytes = try readBytes(T.bitWidth / 8, from: memory)
        var value: T = 0
        for (index, byte) in bytes.enumerated() { value |= T(truncatingIfNeeded: byte) << (index * 8) }
        return value
    }

    /// Moves past `count` bytes without reading them.
    @inlinable
    public mutating func skip(_ count: UInt64) throws(VirtioQueueError) {
        try cursor.forEachPiece(count) { _, _, _ throws(GuestMemoryError) in }
    }
}

/// A cursor over the device-writable buffers of a chain: writes a response as one
/// byte stream and counts the bytes for ``Virtqueue/addUsed(_:writtenLength:to:)``.
///
/// ```swift
/// var writer = DescriptorChainWriter(chain)
/// try writer.write([0], to: memory)  // virtio-blk status: OK
/// try queue.addUsed(chain, writtenLength: writer.writtenLength, to: memory)
/// ```
public struct DescriptorChainWriter: Sendable {
    @usableFromInline
    var cursor: ChainCursor

    /// A writer over `chain`'s writable buffers.
    @inlinable
    public init(_ chain: DescriptorChain) { cursor = ChainCursor(chain.writable) }

    /// Bytes that still fit.
    @inlinable
    public var remaining: UInt64 { cursor.remaining }
    /// Bytes written (or skipped) so far.
    @inlinable
    public var bytesWritten: UInt64 { cursor.consumed }
    /// ``bytesWritten`` as the used ring's 32-bit length (a chain holds at most
    /// 2^32 bytes; the one value past `UInt32.max` is reported as `UInt32.max`,
    /// since the specification allows the length to be an underestimate).
    @inlinable
    public var writtenLength: UInt32 { UInt32(clamping: cursor.consumed) }

    /// Copies `bytes` into the chain. Throws without writing when fewer than
    /// `bytes.count` bytes of room remain.
    @inlinable
    public mutating func write(_ bytes: UnsafeRawBufferPointer, to memory: some GuestMemory) throws(VirtioQueueError) {
        guard let base = bytes.baseAddress else { return }
        try cursor.forEachPiece(UInt64(bytes.count)) { address, done, chunk throws(GuestMemoryError) in
            // SAFETY: forEachPiece keeps `done + chunk <= bytes.count`.
            try unsafe memory.write(UnsafeRawBufferPointer(start: base + done, count: chunk), to: address)
        }
    }

    /// Copies `bytes` into the chain.
    @inlinable
    public mutating func write(_ bytes: [UInt8], to memory: some GuestMemory) throws(VirtioQueueError) {
        // SAFETY: the closure only reads `raw`, which covers the array for the call.
        let failure: VirtioQueueError? = unsafe bytes.withUnsafeBytes { raw in
            do throws(VirtioQueueError) {
                try unsafe write(raw, to: memory)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Writes a little-endian integer that may straddle descriptors.
    @inlinable
    public mutating func writeLittleEndian<T: FixedWidthInteger>(
        _ value: T, to memory: some GuestMemory
    ) throws(VirtioQueueError) {
        var bytes: [UInt8] = []
        for shift in stride(from: 0, to: T.bitWidth, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
        try write(bytes, to: memory)
    }

    /// Moves past `count` bytes, leaving them as they are.
    @inlinable
    public mutating func skip(_ count: UInt64) throws(VirtioQueueError) {
        try cursor.forEachPiece(count) { _, _, _ throws(GuestMemoryError) in }
    }
}

/// The position in a list of buffers shared by the reader and the writer.
@usableFromInline
struct ChainCursor: Sendable {
    @usableFromInline
    let buffers: [ChainDescriptor]
    @usableFromInline
    var index = 0
    @usableFromInline
    var offset: UInt32 = 0
    @usableFromInline
    let total: UInt64
    @usableFromInline
    var consumed: UInt64 = 0

    @inlinable
    init(_ buffers: ArraySlice<ChainDescriptor>) {
        self.buffers = Array(buffers)
        total = buffers.reduce(0) { $0 + UInt64($1.length) }
    }

    @inlinable
    var remaining: UInt64 { total - consumed }

    /// Moves `count` bytes forward, calling `body` with each piece's guest address,
    /// the bytes done before it, and its length. Checks the room first, so a short
    /// chain fails before any piece; a memory fault stops at that piece (the buffers
    /// were validated at pop, so this only happens if the memory map changed).
    @inlinable
    mutating func forEachPiece(
        _ count: UInt64, _ body: (GuestAddress, Int, Int) throws(GuestMemoryError) -> Void
    ) throws(VirtioQueueError) {
        guard count <= remaining else { throw .chainExhausted(requested: count, remaining: remaining) }
        var done: UInt64 = 0
        while done < count {
            let buffer = buffers[index]
            let left = UInt64(buffer.length - offset)
            if left == 0 {
                index += 1
                offset = 0
                continue
            }
            let chunk = Swift.min(left, count - done)
            do throws(GuestMemoryError) {
                try body(buffer.address.wrappingAdd(UInt64(offset)), Int(done), Int(chunk))
            } catch {
                throw .bufferAccess(error)
            }
            done += chunk
            consumed += chunk
            offset += UInt32(chunk)
        }
    }
}
