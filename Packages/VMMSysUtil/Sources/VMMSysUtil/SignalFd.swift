// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// A `signalfd(2)`: receives signals as readable records instead of running a
/// handler, so a VMM can handle SIGTERM or SIGCHLD in its event loop.
///
/// The signals must be blocked (in every thread that could otherwise receive
/// them), or the kernel delivers them the usual way first. Block them before
/// starting other threads, which inherit the mask.
///
/// ```swift
/// try SignalFd.block([SIGTERM, SIGINT])
/// let signals = try SignalFd(signals: [SIGTERM, SIGINT], flags: .nonBlocking)
/// // add signals.descriptor to an Epoll; when it is readable:
/// let info = try signals.read()
/// print(info.signal, info.senderPID)
/// ```
public struct SignalFd: ~Copyable, Sendable {
    /// Creation flags.
    public struct Flags: OptionSet, Sendable {
        /// The raw `SFD_*` bits.
        public let rawValue: Int32
        /// Wraps raw `SFD_*` bits.
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// `SFD_NONBLOCK`: ``SignalFd/read()`` fails with `EAGAIN` instead of blocking.
        public static let nonBlocking = Flags(rawValue: Int32(SFD_NONBLOCK))
    }

    /// One received signal (the useful fields of `struct signalfd_siginfo`).
    public struct Info: Sendable, Hashable {
        /// The signal number, for example `SIGTERM`.
        public var signal: Int32
        /// How it was sent (`SI_USER` for kill, `SI_QUEUE` for sigqueue, `SI_TKILL` for tgkill...).
        public var code: Int32
        /// The sending process, where the kernel knows it.
        public var senderPID: Int32
        /// The sending user's real user ID.
        public var senderUID: UInt32
        /// The integer payload of `sigqueue`/`pthread_sigqueue`.
        public var value: Int32
        /// For SIGCHLD, the child's exit status or signal.
        public var status: Int32
    }

    /// The descriptor, owned by this value.
    public let descriptor: FileDescriptor

    /// Creates a signalfd that reports `signals` (close-on-exec). Does not block them: see ``block(_:)``.
    public init(signals: [Int32], flags: Flags = []) throws(SystemError) {
        var mask = try Self.mask(signals)
        // SAFETY: &mask is a local sigset_t; glibc's signalfd passes the kernel only its first _NSIG/8 bytes to read.
        let fd = unsafe signalfd(-1, &mask, flags.rawValue | Int32(SFD_CLOEXEC))
        if fd < 0 { throw SystemError.current("signalfd") }
        descriptor = FileDescriptor(owning: fd)
    }

    /// Blocks `signals` in the calling thread (`pthread_sigmask(SIG_BLOCK)`); threads started later inherit it.
    public static func block(_ signals: [Int32]) throws(SystemError) {
        try changeMask(SIG_BLOCK, signals, "pthread_sigmask(SIG_BLOCK)")
    }

    /// Unblocks `signals` in the calling thread; pending ones are delivered at once.
    public static func unblock(_ signals: [Int32]) throws(SystemError) {
        try changeMask(SIG_UNBLOCK, signals, "pthread_sigmask(SIG_UNBLOCK)")
    }

    /// Whether `signal` is blocked in the calling thread.
    public static func isBlocked(_ signal: Int32) throws(SystemError) -> Bool {
        var current = sigset_t()
        // SAFETY: with a nil new set, pthread_sigmask only writes the thread's mask into the local sigset_t.
        let result = unsafe pthread_sigmask(SIG_BLOCK, nil, &current)
        if result != 0 { throw SystemError("pthread_sigmask", errno: Errno(rawValue: result)) }
        return unsafe sigismember(&current, signal) == 1  // SAFETY: reads the local set; a bad number is -1.
    }

    /// Reads one pending signal, consuming it.
    ///
    /// Blocks until one arrives unless the signalfd is non-blocking, in which
    /// case it throws `EAGAIN` (``Errno/wouldBlock``) when none is pending.
    public func read() throws(SystemError) -> Info {
        var record = signalfd_siginfo()
        let size = MemoryLayout<signalfd_siginfo>.size
        // SAFETY: `size` is MemoryLayout<signalfd_siginfo>.size, so read writes at most one record into `record`.
        let count = try retryOnInterrupt("read(signalfd)") { unsafe Glibc.read(descriptor.rawValue, &record, size) }
        // The kernel hands out whole records only; anything else means a broken descriptor.
        if count != size { throw SystemError("read(signalfd)", errno: .invalidArgument) }
        return Info(
            signal: Int32(bitPattern: record.ssi_signo), code: record.ssi_code,
            senderPID: Int32(bitPattern: record.ssi_pid),
            senderUID: record.ssi_uid, value: record.ssi_int, status: record.ssi_status)
    }

    static func mask(_ signals: [Int32]) throws(SystemError) -> sigset_t {
        var mask = sigset_t()
        // SAFETY: both take &mask, a local sigset_t; sigaddset rejects a signal outside 1..<NSIG with -1
        // instead of writing past the set.
        unsafe sigemptyset(&mask)
        for signal in signals where unsafe sigaddset(&mask, signal) != 0 {
            throw SystemError("sigaddset(\(signal))", errno: .invalidArgument)
        }
        return mask
    }

    private static func changeMask(_ how: Int32, _ signals: [Int32], _ call: String) throws(SystemError) {
        var mask = try Self.mask(signals)
        // SAFETY: pthread_sigmask reads one sigset_t from the local `mask`; the old mask is not requested (nil).
        let result = unsafe pthread_sigmask(how, &mask, nil)
        if result != 0 { throw SystemError(call, errno: Errno(rawValue: result)) }
    }
}
