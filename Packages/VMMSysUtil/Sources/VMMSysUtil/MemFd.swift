// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// An anonymous memory file (`memfd_create(2)`): RAM with a file descriptor, so
/// guest memory can be shared with another process (a vhost-user backend) by
/// passing the descriptor.
///
/// ```swift
/// let memory = try MemFd(name: "guest-ram", size: 64 << 20, flags: .allowSealing)
/// try memory.seal([.shrink, .grow])  // the size can no longer change
/// ```
public struct MemFd: ~Copyable, Sendable {
    /// Creation flags.
    public struct Flags: OptionSet, Sendable {
        /// The raw `MFD_*` bits.
        public let rawValue: UInt32
        /// Wraps raw `MFD_*` bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// `MFD_ALLOW_SEALING`: ``MemFd/seal(_:)`` may be used.
        public static let allowSealing = Flags(rawValue: UInt32(MFD_ALLOW_SEALING))
        /// `MFD_HUGETLB`: back the file with huge pages (fails when none are reserved).
        public static let hugeTLB = Flags(rawValue: UInt32(MFD_HUGETLB))
        /// `MFD_HUGETLB | MFD_HUGE_2MB`: 2 MiB huge pages.
        public static let hugeTLB2MiB = Flags(rawValue: UInt32(MFD_HUGETLB) | cvmm_mfd_huge_2mb())
    }

    /// File seals (`F_SEAL_*`).
    public struct Seals: OptionSet, Sendable {
        /// The raw `F_SEAL_*` bits.
        public let rawValue: Int32
        /// Wraps raw `F_SEAL_*` bits.
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// No further seals may be added.
        public static let seal = Seals(rawValue: cvmm_f_seal_seal())
        /// The file may not shrink.
        public static let shrink = Seals(rawValue: cvmm_f_seal_shrink())
        /// The file may not grow.
        public static let grow = Seals(rawValue: cvmm_f_seal_grow())
        /// The contents may not be written.
        public static let write = Seals(rawValue: cvmm_f_seal_write())
    }

    /// The descriptor, owned by this value.
    public let descriptor: FileDescriptor

    /// Creates a memfd called `name` (shown in /proc/PID/fd) and sizes it to `size` bytes.
    public init(name: String, size: Int, flags: Flags = []) throws(SystemError) {
        // SAFETY: `name` is bridged to a NUL-terminated C string valid for the call; the kernel copies it.
        let fd = unsafe memfd_create(name, flags.rawValue | UInt32(MFD_CLOEXEC))
        if fd < 0 { throw SystemError.current("memfd_create(\(name))") }
        let owned = FileDescriptor(owning: fd)  // closes the file if sizing fails
        if ftruncate(fd, off_t(size)) != 0 { throw SystemError.current("ftruncate(memfd, \(size))") }
        descriptor = owned
    }

    /// The file's current size in bytes.
    public func size() throws(SystemError) -> Int {
        var status = stat()
        // SAFETY: &status is the local stat struct; fstat writes exactly one struct stat into it.
        if unsafe fstat(descriptor.rawValue, &status) != 0 { throw SystemError.current("fstat(memfd)") }
        return Int(status.st_size)
    }

    /// Adds seals (needs ``Flags/allowSealing`` at creation).
    public func seal(_ seals: Seals) throws(SystemError) {
        if cvmm_fcntl_int(descriptor.rawValue, F_ADD_SEALS, seals.rawValue) != 0 {
            throw SystemError.current("fcntl(F_ADD_SEALS)")
        }
    }

    /// The seals currently in place.
    public func seals() throws(SystemError) -> Seals {
        let value = cvmm_fcntl_int(descriptor.rawValue, F_GET_SEALS, 0)
        if value < 0 { throw SystemError.current("fcntl(F_GET_SEALS)") }
        return Seals(rawValue: value)
    }
}
