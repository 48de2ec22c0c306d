// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// A `timerfd(2)` on the monotonic clock: a timer that becomes readable when it
/// expires, so it can sit in an ``Epoll`` set next to device descriptors.
///
/// ```swift
/// let timer = try TimerFd()
/// try timer.arm(after: .milliseconds(5), repeating: .milliseconds(5))
/// let expirations = try timer.wait()  // blocks until the first expiry; >= 1
/// try timer.disarm()
/// ```
public struct TimerFd: ~Copyable, Sendable {
    /// Creation flags.
    public struct Flags: OptionSet, Sendable {
        /// The raw `TFD_*` bits.
        public let rawValue: Int32
        /// Wraps raw `TFD_*` bits.
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// `TFD_NONBLOCK`: ``TimerFd/wait()`` fails with `EAGAIN` instead of blocking.
        public static let nonBlocking = Flags(rawValue: Int32(TFD_NONBLOCK))
    }

    /// The timer's current setting.
    public struct Setting: Sendable, Hashable {
        /// Time left until the next expiry; `nil` when the timer is disarmed.
        public var remaining: Duration?
        /// The period after the first expiry; `nil` for a one-shot timer.
        public var interval: Duration?

        /// Creates a setting value (disarmed and one-shot by default).
        public init(remaining: Duration? = nil, interval: Duration? = nil) {
            self.remaining = remaining
            self.interval = interval
        }
    }

    /// The descriptor, owned by this value.
    public let descriptor: FileDescriptor

    /// Creates a disarmed timer on `CLOCK_MONOTONIC` (close-on-exec).
    public init(flags: Flags = []) throws(SystemError) {
        let fd = timerfd_create(CLOCK_MONOTONIC, flags.rawValue | Int32(TFD_CLOEXEC))
        if fd < 0 { throw SystemError.current("timerfd_create") }
        descriptor = FileDescriptor(owning: fd)
    }

    /// Arms the timer to expire once after `delay`, then every `interval` if given.
    ///
    /// Re-arming replaces the previous setting and clears pending expirations.
    /// A zero `delay` expires as soon as possible (the kernel reads zero as
    /// "disarm", so it becomes one nanosecond). Negative durations fail with `EINVAL`.
    public func arm(after delay: Duration, repeating interval: Duration? = nil) throws(SystemError) {
        var setting = itimerspec()
        setting.it_value = try Self.timespec(delay)
        if setting.it_value.tv_sec == 0 && setting.it_value.tv_nsec == 0 { setting.it_value.tv_nsec = 1 }
        if let interval {
            setting.it_interval = try Self.timespec(interval)
            if setting.it_interval.tv_sec == 0 && setting.it_interval.tv_nsec == 0 {
                // A zero period would silently make the timer one-shot.
                throw SystemError("timerfd_settime", errno: .invalidArgument)
            }
        }
        // SAFETY: timerfd_settime reads one itimerspec from the local `setting`; the old value is not requested (nil).
        if unsafe timerfd_settime(descriptor.rawValue, 0, &setting, nil) != 0 {
            throw SystemError.current("timerfd_settime")
        }
    }

    /// Stops the timer; expirations already counted stay readable.
    public func disarm() throws(SystemError) {
        var setting = itimerspec()
        // SAFETY: reads the zeroed local itimerspec (zero disarms); the old value is not requested (nil).
        if unsafe timerfd_settime(descriptor.rawValue, 0, &setting, nil) != 0 {
            throw SystemError.current("timerfd_settime")
        }
    }

    /// The time to the next expiry and the period (`timerfd_gettime`).
    public func setting() throws(SystemError) -> Setting {
        var current = itimerspec()
        // SAFETY: timerfd_gettime writes one itimerspec into the local `current`.
        if unsafe timerfd_gettime(descriptor.rawValue, &current) != 0 { throw SystemError.current("timerfd_gettime") }
        let remaining = Self.duration(current.it_value)
        let interval = Self.duration(current.it_interval)
        return Setting(remaining: remaining == .zero ? nil : remaining, interval: interval == .zero ? nil : interval)
    }

    /// Returns how many times the timer expired since the last read, and resets that count.
    ///
    /// Blocks until the first expiry unless the timer is non-blocking, in which
    /// case it throws `EAGAIN` (``Errno/wouldBlock``) when nothing expired.
    public func wait() throws(SystemError) -> UInt64 {
        var expirations: UInt64 = 0
        // SAFETY: read writes at most 8 bytes into the local UInt64 `expirations` (a timerfd read is exactly 8).
        _ = try retryOnInterrupt("read(timerfd)") { unsafe Glibc.read(descriptor.rawValue, &expirations, 8) }
        return expirations
    }

    static func timespec(_ duration: Duration) throws(SystemError) -> Glibc.timespec {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 || attoseconds < 0 { throw SystemError("timerfd_settime", errno: .invalidArgument) }
        return Glibc.timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    }

    static func duration(_ value: Glibc.timespec) -> Duration {
        .seconds(value.tv_sec) + .nanoseconds(value.tv_nsec)
    }
}
