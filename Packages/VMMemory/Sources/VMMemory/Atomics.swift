// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Synchronization

/// The memory ordering of an atomic guest memory access.
///
/// Swift's `Atomic` needs its ordering as a compile-time constant, so the guest
/// memory API takes this enum and picks the constant for each case.
///
/// ```swift
/// let index = try memory.atomicLoad(UInt16.self, at: GuestAddress(0x2002), ordering: .acquireRelease)
/// ```
public enum GuestAtomicOrdering: Sendable {
    /// No ordering beyond the atomicity of the access itself.
    case relaxed
    /// Acquire for loads, release for stores, both for read-modify-write operations.
    case acquireRelease
    /// A single total order with every other sequentially consistent access.
    case sequentiallyConsistent
}

/// An integer type that guest memory can load and store atomically.
///
/// Swift's `Atomic` operations exist per storage width, not generically, so
/// each width conforms here with one-line forwards; the guest memory API is
/// generic over this protocol.
///
/// ```swift
/// let flags = try memory.atomicLoad(UInt32.self, at: GuestAddress(0x1000))
/// ```
public protocol GuestAtomicInteger: FixedWidthInteger, AtomicRepresentable, BitwiseCopyable {
    /// Loads the value at `pointer` atomically.
    static func atomicLoad(at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) -> Self
    /// Stores `value` at `pointer` atomically.
    static func atomicStore(_ value: Self, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering)
    /// Compares and exchanges the value at `pointer` atomically.
    static func atomicCompareExchange(
        expected: Self, desired: Self, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering
    ) -> (exchanged: Bool, original: Self)
}

extension UInt8: GuestAtomicInteger {
    /// Loads the value at `pointer` atomically.
    @inlinable
    public static func atomicLoad(at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) -> UInt8 {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt8> has UInt8's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt8>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt8 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: return unsafe atomic.pointee.load(ordering: .relaxed)
        case .acquireRelease: return unsafe atomic.pointee.load(ordering: .acquiring)
        case .sequentiallyConsistent: return unsafe atomic.pointee.load(ordering: .sequentiallyConsistent)
        }
    }

    /// Stores `value` at `pointer` atomically.
    @inlinable
    public static func atomicStore(_ value: UInt8, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt8> has UInt8's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt8>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt8 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: unsafe atomic.pointee.store(value, ordering: .relaxed)
        case .acquireRelease: unsafe atomic.pointee.store(value, ordering: .releasing)
        case .sequentiallyConsistent: unsafe atomic.pointee.store(value, ordering: .sequentiallyConsistent)
        }
    }

    /// Compares and exchanges the value at `pointer` atomically.
    @inlinable
    public static func atomicCompareExchange(
        expected: UInt8, desired: UInt8, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering
    ) -> (exchanged: Bool, original: UInt8) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt8> has UInt8's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt8>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt8 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed:
            return unsafe atomic.pointee.compareExchange(expected: expected, desired: desired, ordering: .relaxed)
        case .acquireRelease:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .acquiringAndReleasing)
        case .sequentiallyConsistent:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .sequentiallyConsistent)
        }
    }
}

extension UInt16: GuestAtomicInteger {
    /// Loads the value at `pointer` atomically.
    @inlinable
    public static func atomicLoad(at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) -> UInt16 {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt16> has UInt16's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt16>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt16 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: return unsafe atomic.pointee.load(ordering: .relaxed)
        case .acquireRelease: return unsafe atomic.pointee.load(ordering: .acquiring)
        case .sequentiallyConsistent: return unsafe atomic.pointee.load(ordering: .sequentiallyConsistent)
        }
    }

    /// Stores `value` at `pointer` atomically.
    @inlinable
    public static func atomicStore(_ value: UInt16, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering)
    {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt16> has UInt16's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt16>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt16 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: unsafe atomic.pointee.store(value, ordering: .relaxed)
        case .acquireRelease: unsafe atomic.pointee.store(value, ordering: .releasing)
        case .sequentiallyConsistent: unsafe atomic.pointee.store(value, ordering: .sequentiallyConsistent)
        }
    }

    /// Compares and exchanges the value at `pointer` atomically.
    @inlinable
    public static func atomicCompareExchange(
        expected: UInt16, desired: UInt16, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering
    ) -> (exchanged: Bool, original: UInt16) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt16> has UInt16's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt16>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt16 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed:
            return unsafe atomic.pointee.compareExchange(expected: expected, desired: desired, ordering: .relaxed)
        case .acquireRelease:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .acquiringAndReleasing)
        case .sequentiallyConsistent:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .sequentiallyConsistent)
        }
    }
}

extension UInt32: GuestAtomicInteger {
    /// Loads the value at `pointer` atomically.
    @inlinable
    public static func atomicLoad(at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) -> UInt32 {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt32> has UInt32's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt32>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt32 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: return unsafe atomic.pointee.load(ordering: .relaxed)
        case .acquireRelease: return unsafe atomic.pointee.load(ordering: .acquiring)
        case .sequentiallyConsistent: return unsafe atomic.pointee.load(ordering: .sequentiallyConsistent)
        }
    }

    /// Stores `value` at `pointer` atomically.
    @inlinable
    public static func atomicStore(_ value: UInt32, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering)
    {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt32> has UInt32's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt32>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt32 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: unsafe atomic.pointee.store(value, ordering: .relaxed)
        case .acquireRelease: unsafe atomic.pointee.store(value, ordering: .releasing)
        case .sequentiallyConsistent: unsafe atomic.pointee.store(value, ordering: .sequentiallyConsistent)
        }
    }

    /// Compares and exchanges the value at `pointer` atomically.
    @inlinable
    public static func atomicCompareExchange(
        expected: UInt32, desired: UInt32, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering
    ) -> (exchanged: Bool, original: UInt32) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt32> has UInt32's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt32>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt32 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed:
            return unsafe atomic.pointee.compareExchange(expected: expected, desired: desired, ordering: .relaxed)
        case .acquireRelease:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .acquiringAndReleasing)
        case .sequentiallyConsistent:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .sequentiallyConsistent)
        }
    }
}

extension UInt64: GuestAtomicInteger {
    /// Loads the value at `pointer` atomically.
    @inlinable
    public static func atomicLoad(at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) -> UInt64 {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt64> has UInt64's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt64>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt64 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: return unsafe atomic.pointee.load(ordering: .relaxed)
        case .acquireRelease: return unsafe atomic.pointee.load(ordering: .acquiring)
        case .sequentiallyConsistent: return unsafe atomic.pointee.load(ordering: .sequentiallyConsistent)
        }
    }

    /// Stores `value` at `pointer` atomically.
    @inlinable
    public static func atomicStore(_ value: UInt64, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering)
    {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt64> has UInt64's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt64>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt64 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: unsafe atomic.pointee.store(value, ordering: .relaxed)
        case .acquireRelease: unsafe atomic.pointee.store(value, ordering: .releasing)
        case .sequentiallyConsistent: unsafe atomic.pointee.store(value, ordering: .sequentiallyConsistent)
        }
    }

    /// Compares and exchanges the value at `pointer` atomically.
    @inlinable
    public static func atomicCompareExchange(
        expected: UInt64, desired: UInt64, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering
    ) -> (exchanged: Bool, original: UInt64) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<UInt64> has UInt64's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<UInt64>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned UInt64 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed:
            return unsafe atomic.pointee.compareExchange(expected: expected, desired: desired, ordering: .relaxed)
        case .acquireRelease:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .acquiringAndReleasing)
        case .sequentiallyConsistent:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .sequentiallyConsistent)
        }
    }
}

extension Int8: GuestAtomicInteger {
    /// Loads the value at `pointer` atomically.
    @inlinable
    public static func atomicLoad(at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) -> Int8 {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int8> has Int8's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int8>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int8 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: return unsafe atomic.pointee.load(ordering: .relaxed)
        case .acquireRelease: return unsafe atomic.pointee.load(ordering: .acquiring)
        case .sequentiallyConsistent: return unsafe atomic.pointee.load(ordering: .sequentiallyConsistent)
        }
    }

    /// Stores `value` at `pointer` atomically.
    @inlinable
    public static func atomicStore(_ value: Int8, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int8> has Int8's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int8>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int8 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: unsafe atomic.pointee.store(value, ordering: .relaxed)
        case .acquireRelease: unsafe atomic.pointee.store(value, ordering: .releasing)
        case .sequentiallyConsistent: unsafe atomic.pointee.store(value, ordering: .sequentiallyConsistent)
        }
    }

    /// Compares and exchanges the value at `pointer` atomically.
    @inlinable
    public static func atomicCompareExchange(
        expected: Int8, desired: Int8, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering
    ) -> (exchanged: Bool, original: Int8) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int8> has Int8's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int8>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int8 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed:
            return unsafe atomic.pointee.compareExchange(expected: expected, desired: desired, ordering: .relaxed)
        case .acquireRelease:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .acquiringAndReleasing)
        case .sequentiallyConsistent:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .sequentiallyConsistent)
        }
    }
}

extension Int16: GuestAtomicInteger {
    /// Loads the value at `pointer` atomically.
    @inlinable
    public static func atomicLoad(at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) -> Int16 {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int16> has Int16's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int16>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int16 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: return unsafe atomic.pointee.load(ordering: .relaxed)
        case .acquireRelease: return unsafe atomic.pointee.load(ordering: .acquiring)
        case .sequentiallyConsistent: return unsafe atomic.pointee.load(ordering: .sequentiallyConsistent)
        }
    }

    /// Stores `value` at `pointer` atomically.
    @inlinable
    public static func atomicStore(_ value: Int16, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int16> has Int16's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int16>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int16 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: unsafe atomic.pointee.store(value, ordering: .relaxed)
        case .acquireRelease: unsafe atomic.pointee.store(value, ordering: .releasing)
        case .sequentiallyConsistent: unsafe atomic.pointee.store(value, ordering: .sequentiallyConsistent)
        }
    }

    /// Compares and exchanges the value at `pointer` atomically.
    @inlinable
    public static func atomicCompareExchange(
        expected: Int16, desired: Int16, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering
    ) -> (exchanged: Bool, original: Int16) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int16> has Int16's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int16>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int16 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed:
            return unsafe atomic.pointee.compareExchange(expected: expected, desired: desired, ordering: .relaxed)
        case .acquireRelease:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .acquiringAndReleasing)
        case .sequentiallyConsistent:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .sequentiallyConsistent)
        }
    }
}

extension Int32: GuestAtomicInteger {
    /// Loads the value at `pointer` atomically.
    @inlinable
    public static func atomicLoad(at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) -> Int32 {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int32> has Int32's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int32>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int32 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: return unsafe atomic.pointee.load(ordering: .relaxed)
        case .acquireRelease: return unsafe atomic.pointee.load(ordering: .acquiring)
        case .sequentiallyConsistent: return unsafe atomic.pointee.load(ordering: .sequentiallyConsistent)
        }
    }

    /// Stores `value` at `pointer` atomically.
    @inlinable
    public static func atomicStore(_ value: Int32, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int32> has Int32's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int32>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int32 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: unsafe atomic.pointee.store(value, ordering: .relaxed)
        case .acquireRelease: unsafe atomic.pointee.store(value, ordering: .releasing)
        case .sequentiallyConsistent: unsafe atomic.pointee.store(value, ordering: .sequentiallyConsistent)
        }
    }

    /// Compares and exchanges the value at `pointer` atomically.
    @inlinable
    public static func atomicCompareExchange(
        expected: Int32, desired: Int32, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering
    ) -> (exchanged: Bool, original: Int32) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int32> has Int32's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int32>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int32 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed:
            return unsafe atomic.pointee.compareExchange(expected: expected, desired: desired, ordering: .relaxed)
        case .acquireRelease:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .acquiringAndReleasing)
        case .sequentiallyConsistent:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .sequentiallyConsistent)
        }
    }
}

extension Int64: GuestAtomicInteger {
    /// Loads the value at `pointer` atomically.
    @inlinable
    public static func atomicLoad(at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) -> Int64 {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int64> has Int64's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int64>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int64 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: return unsafe atomic.pointee.load(ordering: .relaxed)
        case .acquireRelease: return unsafe atomic.pointee.load(ordering: .acquiring)
        case .sequentiallyConsistent: return unsafe atomic.pointee.load(ordering: .sequentiallyConsistent)
        }
    }

    /// Stores `value` at `pointer` atomically.
    @inlinable
    public static func atomicStore(_ value: Int64, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int64> has Int64's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int64>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int64 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed: unsafe atomic.pointee.store(value, ordering: .relaxed)
        case .acquireRelease: unsafe atomic.pointee.store(value, ordering: .releasing)
        case .sequentiallyConsistent: unsafe atomic.pointee.store(value, ordering: .sequentiallyConsistent)
        }
    }

    /// Compares and exchanges the value at `pointer` atomically.
    @inlinable
    public static func atomicCompareExchange(
        expected: Int64, desired: Int64, at pointer: UnsafeMutableRawPointer, ordering: GuestAtomicOrdering
    ) -> (exchanged: Bool, original: Int64) {
        // SAFETY: callers pass a live, aligned pointer; Atomic<Int64> has Int64's size and alignment.
        let atomic = unsafe pointer.assumingMemoryBound(to: Atomic<Int64>.self)
        switch ordering {
        // SAFETY: `atomic` is a live, aligned Int64 in one region: the caller's duty, checked by atomicPlace.
        case .relaxed:
            return unsafe atomic.pointee.compareExchange(expected: expected, desired: desired, ordering: .relaxed)
        case .acquireRelease:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .acquiringAndReleasing)
        case .sequentiallyConsistent:
            // SAFETY: the same `atomic` as above: aligned, inside one region, alive for the call.
            return unsafe atomic.pointee.compareExchange(
                expected: expected, desired: desired, ordering: .sequentiallyConsistent)
        }
    }
}

/// Atomic access to naturally aligned integers in guest memory, for state the
/// guest reads or writes concurrently (virtqueue indices, shared flags).
///
/// Values are in host byte order, which is little-endian on every host swift-vmm
/// supports (x86_64, aarch64, riscv64), so they match what a guest sees. The
/// address must be aligned to the value's size and the value must lie in one
/// region; anything else is a typed error.
///
/// ```swift
/// try memory.atomicStore(UInt16(7), at: GuestAddress(0x2002), ordering: .acquireRelease)
/// let index = try memory.atomicLoad(UInt16.self, at: GuestAddress(0x2002), ordering: .acquireRelease)
/// ```
extension GuestMemory {
    /// The host location of an aligned `Atomic<T>` at `address`.
    @inlinable
    func atomicPlace<T: GuestAtomicInteger>(
        _: T.Type, at address: GuestAddress
    ) throws(GuestMemoryError)
        -> ResolvedAddress
    {
        let size = UInt64(MemoryLayout<Atomic<T>>.size)
        let alignment = UInt64(MemoryLayout<Atomic<T>>.alignment)
        guard address.isAligned(to: alignment) else { throw .misaligned(address, alignment: alignment) }
        guard let place = resolve(address) else { throw .unmappedAddress(address) }
        guard place.available >= size else { throw .crossesRegionBoundary(address, length: size) }
        // The host mapping must be aligned too for the hardware atomic; regions
        // start page- or 64-byte aligned, so this only fails for exotic backends.
        // SAFETY: reads only the pointer's address bits to test alignment; nothing is dereferenced.
        guard unsafe UInt(bitPattern: place.hostAddress) & UInt(alignment - 1) == 0 else {
            throw .misaligned(address, alignment: alignment)
        }
        return place
    }

    /// Atomically loads the integer at `address`.
    @inlinable
    public func atomicLoad<T: GuestAtomicInteger>(
        _ type: T.Type = T.self, at address: GuestAddress, ordering: GuestAtomicOrdering = .acquireRelease
    ) throws(GuestMemoryError) -> T {
        let place = try atomicPlace(T.self, at: address)
        // SAFETY: atomicPlace checked the host pointer is aligned for Atomic<T> with >= its size left in the region.
        return unsafe T.atomicLoad(at: place.hostAddress, ordering: ordering)
    }

    /// Atomically stores `value` at `address`.
    @inlinable
    public func atomicStore<T: GuestAtomicInteger>(
        _ value: T, at address: GuestAddress, ordering: GuestAtomicOrdering = .acquireRelease
    ) throws(GuestMemoryError) {
        let place = try atomicPlace(T.self, at: address)
        // SAFETY: atomicPlace checked the host pointer is aligned for Atomic<T> with >= its size left in the region.
        unsafe T.atomicStore(value, at: place.hostAddress, ordering: ordering)
        place.noteWrite(UInt64(MemoryLayout<T>.size))
    }

    /// Atomically replaces the integer at `address` with `desired` if it equals
    /// `expected`; returns whether it did and the value found.
    @inlinable
    public func atomicCompareExchange<T: GuestAtomicInteger>(
        expected: T, desired: T, at address: GuestAddress, ordering: GuestAtomicOrdering = .acquireRelease
    ) throws(GuestMemoryError) -> (exchanged: Bool, original: T) {
        let place = try atomicPlace(T.self, at: address)
        // SAFETY: atomicPlace checked the host pointer is aligned for Atomic<T> with >= its size left in the region.
        let result = unsafe T.atomicCompareExchange(
            expected: expected, desired: desired, at: place.hostAddress, ordering: ordering)
        if result.exchanged { place.noteWrite(UInt64(MemoryLayout<T>.size)) }
        return result
    }
}

extension GuestMemory {
    /// Atomically adds `operand` (wrapping) to the integer at `address`; returns the old value.
    @inlinable
    public func atomicWrappingAdd<T: GuestAtomicInteger>(
        _ operand: T, at address: GuestAddress, ordering: GuestAtomicOrdering = .acquireRelease
    ) throws(GuestMemoryError) -> T {
        var current = try atomicLoad(T.self, at: address, ordering: .relaxed)
        while true {
            let result = try atomicCompareExchange(
                expected: current, desired: current &+ operand, at: address, ordering: ordering)
            if result.exchanged { return current }
            current = result.original
        }
    }
}
