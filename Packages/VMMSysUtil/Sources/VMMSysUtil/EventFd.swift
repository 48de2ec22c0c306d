// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// A Linux `eventfd(2)` counter: the wake-up primitive behind KVM's irqfd and
/// ioeventfd and behind cross-thread notifications in event loops.
///
/// ```swift
/// let event = try EventFd(flags: .nonBlocking)
/// try event.signal(3)
/// let count = try event.wait()  // 3
/// ```
public struct EventFd: ~Copyable, Sendable {
    /// Creation flags.
    public struct Flags: OptionSet, Sendable {
        /// The raw `EFD_*` bits.
        public let rawValue: Int32
        /// Wraps raw `EFD_*` bits.
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// `EFD_NONBLOCK`: ``EventFd/wait()`` fails with `EAGAIN` instead of blocking.
        public static let nonBlocking = Flags(rawValue: Int32(EFD_NONBLOCK))
        /// `EFD_SEMAPHORE`: each wait decrements the counter by one.
        public static let semaphore = Flags(rawValue: Int32(EFD_SEMAPHORE))
    }

    /// The underlying descriptor, owned by this value.
    public let descriptor: FileDescriptor

    /// Creates an eventfd with an initial counter value (close-on-exec is always set).
    public init(initialValue: UInt32 = 0, flags: Flags = []) throws(SystemError) {
        let fd = eventfd(initialValue, flags.rawValue | Int32(EFD_CLOEXEC))
        if fd < 0 { throw SystemError.current("eventfd") }
        descriptor = FileDescriptor(owning: fd)
    }

    /// Adds `value` to the counter, waking any waiter.
    public func signal(_ value: UInt64 = 1) throws(SystemError) {
        var value = value
        // SAFETY: &value is the local UInt64, exactly the 8 bytes an eventfd write takes; it outlives every retry.
        _ = try retryOnInterrupt("write(eventfd)") { unsafe Glibc.write(descriptor.rawValue, &value, 8) }
    }

    /// Returns the counter and resets it (or decrements it by one in semaphore mode).
    ///
    /// Blocks while the counter is zero unless the eventfd is non-blocking, in
    /// which case it throws `EAGAIN` (``Errno/wouldBlock``).
    public func wait() throws(SystemError) -> UInt64 {
        var value: UInt64 = 0
        // SAFETY: read writes at most 8 bytes into the local UInt64 `value` (an eventfd read is exactly 8).
        _ = try retryOnInterrupt("read(eventfd)") { unsafe Glibc.read(descriptor.rawValue, &value, 8) }
        return value
    }
}
