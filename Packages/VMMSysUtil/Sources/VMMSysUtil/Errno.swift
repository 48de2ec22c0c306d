// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// A POSIX error number, as a typed value.
///
/// ```swift
/// let error = Errno.badFileDescriptor
/// print(error.rawValue, error)  // 9 Bad file descriptor
/// ```
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The numeric value (`EBADF` is 9).
    public let rawValue: Int32

    /// Wraps a raw error number.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(rawValue: cvmm_errno()) }

    /// The C library's message for this number, for example "Bad file descriptor".
    public var description: String { unsafe String(cString: strerror(rawValue)) }
    // SAFETY: (`description` above) strerror returns a NUL-terminated message in static storage or, for unknown
    // numbers, glibc's per-thread buffer (glibc >= 2.32); String(cString:) copies it before any later call reuses it.

    /// `EINTR`: the call was interrupted by a signal.
    public static let interrupted = Errno(rawValue: EINTR)
    /// `EAGAIN`: try again (non-blocking descriptors).
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    /// `EBADF`: the descriptor is not open.
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    /// `EINVAL`: an argument is invalid.
    public static let invalidArgument = Errno(rawValue: EINVAL)
    /// `ENOENT`: no such file or directory.
    public static let noSuchFile = Errno(rawValue: ENOENT)
    /// `EEXIST`: the object already exists.
    public static let exists = Errno(rawValue: EEXIST)
    /// `ENOMEM`: out of memory.
    public static let outOfMemory = Errno(rawValue: ENOMEM)
    /// `EACCES`: permission denied.
    public static let accessDenied = Errno(rawValue: EACCES)
    /// `EPERM`: operation not permitted.
    public static let notPermitted = Errno(rawValue: EPERM)
    /// `ENOTTY`: the ioctl does not apply to this descriptor.
    public static let notATerminal = Errno(rawValue: ENOTTY)
    /// `ENOSYS`: the system call is not implemented.
    public static let notImplemented = Errno(rawValue: ENOSYS)
}

/// A failed system call: which call failed and the `errno` it left.
///
/// Every throwing API in swift-vmm's Linux layers names the call, so an error
/// read from a log says what went wrong without a debugger:
///
/// ```swift
/// do {
///     _ = try EventFd()
/// } catch {
///     print(error)  // "eventfd: Too many open files (errno 24)"
/// }
/// ```
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The name of the failing call, for example `"read"` or `"ioctl(KVM_RUN)"`.
    public let call: String
    /// The error number the call left.
    public let errno: Errno

    /// Creates an error for `call` with an explicit error number.
    public init(_ call: String, errno: Errno) {
        self.call = call
        self.errno = errno
    }

    /// Creates an error for `call` from the thread's current `errno`.
    public static func current(_ call: String) -> SystemError {
        SystemError(call, errno: .current)
    }

    /// `"<call>: <message> (errno <n>)"`.
    public var description: String { "\(call): \(errno) (errno \(errno.rawValue))" }
}

/// Runs `body` until it does not fail with `EINTR`, returning its result.
///
/// `body` returns a negative value and leaves `errno` set on failure, as
/// system calls do; any failure other than `EINTR` becomes a ``SystemError``.
///
/// ```swift
/// let count = try retryOnInterrupt("read") { read(fd, buffer, size) }
/// ```
@inlinable
public func retryOnInterrupt<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let error = Errno.current
        if error != .interrupted { throw SystemError(call, errno: error) }
    }
}
