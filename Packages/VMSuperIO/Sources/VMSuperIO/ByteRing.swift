// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A fixed-capacity FIFO of bytes: never grows past the capacity it was made with,
/// so a guest or a host that produces faster than the other side consumes meets
/// back-pressure instead of unbounded buffering.
@usableFromInline struct ByteRing {
    @usableFromInline var storage: [UInt8]
    @usableFromInline var head = 0
    @usableFromInline var count = 0

    @inlinable init(capacity: Int) {
        storage = [UInt8](repeating: 0, count: max(capacity, 1))
    }

    @inlinable var capacity: Int { storage.count }
    @inlinable var isEmpty: Bool { count == 0 }
    @inlinable var isFull: Bool { count == storage.count }

    /// Appends `byte` unless the ring is full; returns whether it was stored.
    @inlinable @inline(__always)
    mutating func push(_ byte: UInt8) -> Bool {
        guard count < storage.count else { return false }
        var tail = head + count
        if tail >= storage.count { tail -= storage.count }
        storage[tail] = byte
        count += 1
        return true
    }

    /// The oldest byte, without removing it.
    @inlinable var first: UInt8? { count == 0 ? nil : storage[head] }

    /// Removes and returns the oldest byte.
    @inlinable @inline(__always)
    mutating func pop() -> UInt8? {
        guard count > 0 else { return nil }
        let byte = storage[head]
        head += 1
        if head == storage.count { head = 0 }
        count -= 1
        return byte
    }

    /// The bytes held, oldest first.
    @usableFromInline var contents: [UInt8] {
        (0..<count).map { storage[(head + $0) % storage.count] }
    }

    /// Forgets every byte; returns how many there were.
    @inlinable @discardableResult
    mutating func removeAll() -> Int {
        let removed = count
        head = 0
        count = 0
        return removed
    }
}
