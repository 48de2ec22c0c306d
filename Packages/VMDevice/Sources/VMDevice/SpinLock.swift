// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Synchronization

/// A reader-writer spin lock on one atomic word, usable where `Mutex` is not
/// (Embedded Swift) and meant for short critical sections only: a bus lookup, a
/// device register access. Writers announce themselves so a stream of readers
/// cannot starve them.
///
/// ```swift
/// let lock = ReadWriteSpinLock()
/// let value = lock.withReadLock { table.lookup(key) }
/// lock.withWriteLock { table.insert(key) }
/// ```
public final class ReadWriteSpinLock: Sendable {
    /// Bit set while a writer holds the lock.
    private static var writerHolds: Int { 1 << 62 }
    /// Bit set while a writer waits: new readers hold back.
    private static var writerWaits: Int { 1 << 61 }
    private static var readerMask: Int { (1 << 61) - 1 }

    private let state = Atomic<Int>(0)

    /// Creates an unlocked lock.
    public init() {}

    /// Runs `body` while holding the lock shared with other readers.
    @inlinable
    public func withReadLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lockShared()
        defer { unlockShared() }
        return try body()
    }

    /// Runs `body` while holding the lock exclusively.
    @inlinable
    public func withWriteLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lockExclusive()
        defer { unlockExclusive() }
        return try body()
    }

    /// Takes the lock shared; pair with ``unlockShared()``.
    public func lockShared() {
        while true {
            let current = state.load(ordering: .relaxed)
            if current & (Self.writerHolds | Self.writerWaits) == 0 {
                let (exchanged, _) = state.compareExchange(
                    expected: current, desired: current + 1, ordering: .acquiring)
                if exchanged { return }
            }
            spinWait()
        }
    }

    /// Releases a shared hold.
    public func unlockShared() {
        state.subtract(1, ordering: .releasing)
    }

    /// Takes the lock exclusively; pair with ``unlockExclusive()``.
    public func lockExclusive() {
        while true {
            let current = state.load(ordering: .relaxed)
            if current & Self.writerHolds == 0 {
                if current & Self.readerMask == 0 {
                    let (exchanged, _) = state.compareExchange(
                        expected: current, desired: Self.writerHolds, ordering: .acquiring)
                    if exchanged { return }
                } else if current & Self.writerWaits == 0 {
                    _ = state.compareExchange(
                        expected: current, desired: current | Self.writerWaits, ordering: .relaxed)
                }
            }
            spinWait()
        }
    }

    /// Releases an exclusive hold.
    public func unlockExclusive() {
        state.store(0, ordering: .releasing)
    }

    private func spinWait() {
        // A short pause between attempts; the holder runs only a few hundred
        // instructions, so yielding the CPU is not worth a system call.
        for _ in 0..<16 { _ = state.load(ordering: .relaxed) }
    }
}
