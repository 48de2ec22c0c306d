// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Where a guest address lives in the host: the answer of ``GuestMemory/resolve(_:)``.
@safe  // SAFETY: the host pointer is valid for `available` bytes; each use is an `unsafe` expression bounded by it.
@frozen
public struct ResolvedAddress: @unchecked Sendable {
    // @unchecked: a host pointer into guest memory, shared by design.

    /// The host address of the guest byte.
    public let hostAddress: UnsafeMutableRawPointer
    /// Bytes from this address to the end of its region (at least 1).
    public let available: UInt64
    /// The index of the region in ``GuestMemory/regions``.
    public let regionIndex: Int
    /// The offset of the address inside its region.
    public let regionOffset: MemoryRegionAddress
    /// The region's dirty bitmap storage, when it tracks writes.
    public let dirty: DirtyBitmapView?

    /// Describes a resolved address; `dirtyBitmap` is the region's bitmap, if any.
    @inlinable
    public init(
        hostAddress: UnsafeMutableRawPointer, available: UInt64, regionIndex: Int, regionOffset: MemoryRegionAddress,
        dirty: DirtyBitmapView?
    ) {
        // SAFETY: only stores the pointer; calling this init is itself unsafe (raw-pointer parameter), and its one
        // caller, GuestMemoryMap.resolve, passes a pointer valid for `available` bytes of a live region.
        unsafe self.hostAddress = unsafe hostAddress
        self.available = available
        self.regionIndex = regionIndex
        self.regionOffset = regionOffset
        self.dirty = dirty
    }

    /// Records a write of `length` bytes starting here in the region's dirty bitmap.
    @inlinable
    func noteWrite(_ length: UInt64) { dirty?.mark(offset: regionOffset.rawValue, length: length) }
}

/// A guest physical address space made of non-overlapping regions.
///
/// A conforming type only answers "where does this guest address live in the
/// host?" (``resolve(_:)``); the byte, integer, value, slice and atomic access
/// methods come from this protocol's extensions and work on every conforming
/// type. Accesses may span adjacent regions; an access that cannot complete
/// (an unmapped hole, a range wrapping past 2^64) throws before any byte is
/// copied, so a failed write leaves guest memory unchanged.
///
/// ```swift
/// func readHeader(_ memory: some GuestMemory, at address: GuestAddress) throws(GuestMemoryError) -> UInt32 {
///     try memory.readLittleEndian(UInt32.self, from: address)
/// }
/// ```
public protocol GuestMemory: Sendable {
    /// The region type of this memory.
    associatedtype Region: GuestMemoryRegion

    /// The regions, sorted by start address.
    var regions: [Region] { get }

    /// The host location of `address`, or `nil` when no region contains it.
    func resolve(_ address: GuestAddress) -> ResolvedAddress?
}

extension GuestMemory {
    /// The index in ``regions`` of the region containing `address`.
    @inlinable
    public func regionIndex(containing address: GuestAddress) -> Int? { resolve(address)?.regionIndex }

    /// The region containing `address`.
    @inlinable
    public func region(containing address: GuestAddress) -> Region? {
        guard let index = resolve(address)?.regionIndex else { return nil }
        return regions[index]
    }

    /// Whether `address` lies in some region.
    @inlinable
    public func contains(_ address: GuestAddress) -> Bool { resolve(address) != nil }

    /// Throws unless every byte of `[address, address + length)` is mapped.
    /// A zero length always passes.
    @inlinable
    public func checkRange(at address: GuestAddress, length: UInt64) throws(GuestMemoryError) {
        guard length > 0 else { return }
        guard address.rawValue <= UInt64.max - (length - 1) else { throw .addressOverflow(address, length: length) }
        var current = address
        var done: UInt64 = 0
        while done < length {
            guard let place = resolve(current) else {
                if done == 0 { throw .unmappedAddress(address) }
                throw .partialAccess(address, length: length, completed: done)
            }
            let chunk = Swift.min(place.available, length - done)
            done += chunk
            if done < length { current = GuestAddress(current.rawValue + chunk) }
        }
    }

    /// Validates `[address, address + length)`, then calls `body` once per region
    /// piece with the piece's host location, its offset into the range and its length.
    @inlinable
    func forEachPiece(
        at address: GuestAddress, length: UInt64, _ body: (ResolvedAddress, Int, Int) -> Void
    ) throws(GuestMemoryError) {
        guard length > 0 else { return }
        if let place = resolve(address), place.available >= length {
            body(place, 0, Int(length))  // fast path: one region holds the whole range
            return
        }
        try checkRange(at: address, length: length)
        var current = address
        var done: UInt64 = 0
        while done < length {
            // checkRange proved every piece is mapped.
            guard let place = resolve(current) else { return }
            let chunk = Swift.min(place.available, length - done)
            body(place, Int(done), Int(chunk))
            done += chunk
            if done < length { current = GuestAddress(current.rawValue + chunk) }
        }
    }

    /// The host pieces of `[address, address + length)`, one slice per region it
    /// touches (for scatter-gather I/O such as `preadv`).
    @inlinable
    public func slices(at address: GuestAddress, length: UInt64) throws(GuestMemoryError) -> [VolatileSlice] {
        var pieces: [VolatileSlice] = []
        try forEachPiece(at: address, length: length) { place, _, chunk in
            // SAFETY: forEachPiece gives chunk <= place.available, so the slice stays inside the resolved region.
            unsafe pieces.append(
                VolatileSlice(
                    base: place.hostAddress, count: chunk, dirty: place.dirty, dirtyOffset: place.regionOffset.rawValue)
            )
        }
        return pieces
    }

    /// A bounds-checked view of `[address, address + length)`, which must lie in one region.
    @inlinable
    public func slice(at address: GuestAddress, length: UInt64) throws(GuestMemoryError) -> VolatileSlice {
        guard address.rawValue <= UInt64.max - (length == 0 ? 0 : length - 1) else {
            throw .addressOverflow(address, length: length)
        }
        guard let place = resolve(address) else { throw .unmappedAddress(address) }
        guard length <= place.available else { throw .crossesRegionBoundary(address, length: length) }
        // SAFETY: length <= place.available (guard above), so the slice stays inside the resolved region.
        return unsafe VolatileSlice(
            base: place.hostAddress, count: Int(length), dirty: place.dirty, dirtyOffset: place.regionOffset.rawValue)
    }

    /// Copies `buffer.count` bytes of guest memory starting at `address` into `buffer`.
    @inlinable
    public func read(into buffer: UnsafeMutableRawBufferPointer, from address: GuestAddress) throws(GuestMemoryError) {
        guard let destination = buffer.baseAddress else { return }
        try forEachPiece(at: address, length: UInt64(buffer.count)) { place, done, chunk in
            // SAFETY: chunk <= place.available bounds the guest side; done + chunk <= buffer.count the destination.
            unsafe (destination + done).copyMemory(from: place.hostAddress, byteCount: chunk)
        }
    }

    /// Copies `bytes` into guest memory starting at `address`.
    @inlinable
    public func write(_ bytes: UnsafeRawBufferPointer, to address: GuestAddress) throws(GuestMemoryError) {
        guard let source = bytes.baseAddress else { return }
        try forEachPiece(at: address, length: UInt64(bytes.count)) { place, done, chunk in
            // SAFETY: chunk <= place.available bounds the guest side; done + chunk <= bytes.count the source.
            unsafe place.hostAddress.copyMemory(from: source + done, byteCount: chunk)
            place.noteWrite(UInt64(chunk))
        }
    }

    /// Copies `count` bytes of guest memory starting at `address` into a new array.
    @inlinable
    public func read(count: Int, from address: GuestAddress) throws(GuestMemoryError) -> [UInt8] {
        guard count >= 0 else { throw .addressOverflow(address, length: UInt64(truncatingIfNeeded: count)) }
        try checkRange(at: address, length: UInt64(count))
        // SAFETY: read(into:) writes at most buffer.count (= count) bytes; all are claimed only if it completed.
        return unsafe [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            // SAFETY: `buffer` is the new array's storage of `count` bytes; the range was checked above and regions
            // never change, so this read cannot fail.
            initialized =
                unsafe (try? read(into: UnsafeMutableRawBufferPointer(buffer), from: address)) != nil ? count : 0
        }
    }

    /// Copies `bytes` into guest memory starting at `address`.
    @inlinable
    public func write(_ bytes: [UInt8], to address: GuestAddress) throws(GuestMemoryError) {
        // Array.withUnsafeBytes rethrows untyped errors, so the typed error is carried out as a value.
        // SAFETY: the closure only reads `source`, which is valid for the call.
        let failure: GuestMemoryError? = unsafe bytes.withUnsafeBytes { source in
            do throws(GuestMemoryError) {
                try unsafe write(source, to: address)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Sets `count` bytes of guest memory starting at `address` to `byte`.
    @inlinable
    public func fill(_ byte: UInt8, count: UInt64, at address: GuestAddress) throws(GuestMemoryError) {
        try forEachPiece(at: address, length: count) { place, _, chunk in
            // SAFETY: chunk <= place.available, so the fill stays inside the resolved region.
            unsafe place.hostAddress.initializeMemory(as: UInt8.self, repeating: byte, count: chunk)
            place.noteWrite(UInt64(chunk))
        }
    }

    /// Reads a little-endian integer at `address` (any alignment; may span regions).
    @inlinable
    public func readLittleEndian<T: FixedWidthInteger & BitwiseCopyable>(
        _: T.Type = T.self, from address: GuestAddress
    ) throws(GuestMemoryError) -> T {
        if let place = resolve(address), place.available >= UInt64(MemoryLayout<T>.size) {
            // SAFETY: place.available >= MemoryLayout<T>.size (checked above); loadUnaligned needs no alignment.
            return unsafe T(littleEndian: place.hostAddress.loadUnaligned(as: T.self))
        }
        return T(littleEndian: try readValue(T.self, from: address))
    }

    /// Writes `value` as a little-endian integer at `address` (any alignment; may span regions).
    @inlinable
    public func writeLittleEndian<T: FixedWidthInteger & BitwiseCopyable>(
        _ value: T, to address: GuestAddress
    ) throws(GuestMemoryError) {
        if let place = resolve(address), place.available >= UInt64(MemoryLayout<T>.size) {
            // SAFETY: place.available >= MemoryLayout<T>.size (checked above); storeBytes needs no alignment.
            unsafe place.hostAddress.storeBytes(of: value.littleEndian, as: T.self)
            place.noteWrite(UInt64(MemoryLayout<T>.size))
            return
        }
        try writeValue(value.littleEndian, to: address)
    }

    /// Reads a plain value's bytes at `address` in host layout (any alignment; may span regions).
    ///
    /// Use it for `#repr(C)`-like structs imported from C or declared with fixed
    /// layout; for wire formats prefer ``readLittleEndian(_:from:)`` per field.
    @inlinable
    public func readValue<T: BitwiseCopyable>(
        _: T.Type = T.self, from address: GuestAddress
    ) throws(GuestMemoryError)
        -> T
    {
        let size = MemoryLayout<T>.size
        if let place = resolve(address), place.available >= UInt64(size) {
            // SAFETY: place.available >= size (checked above); loadUnaligned needs no alignment.
            return unsafe place.hostAddress.loadUnaligned(as: T.self)
        }
        try checkRange(at: address, length: UInt64(size))
        // Spans regions: gather the bytes into an aligned temporary first.
        let temporary = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: MemoryLayout<T>.alignment)
        // SAFETY: our own size-byte buffer aligned for T, freed once by defer; read(into:) fills it before the load.
        defer { unsafe temporary.deallocate() }
        try unsafe read(into: temporary, from: address)
        return unsafe temporary.baseAddress!.loadUnaligned(as: T.self)
    }

    /// Writes a plain value's bytes at `address` in host layout (any alignment; may span regions).
    @inlinable
    public func writeValue<T: BitwiseCopyable>(_ value: T, to address: GuestAddress) throws(GuestMemoryError) {
        let size = MemoryLayout<T>.size
        if let place = resolve(address), place.available >= UInt64(size) {
            // SAFETY: place.available >= size (checked above); storeBytes needs no alignment.
            unsafe place.hostAddress.storeBytes(of: value, as: T.self)
            place.noteWrite(UInt64(size))
            return
        }
        var copy = value
        // SAFETY: the buffer covers exactly the bytes of the local `copy` for the call.
        try unsafe withUnsafeBytes(of: &copy) { bytes throws(GuestMemoryError) in try unsafe write(bytes, to: address) }
    }
}
