// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CSeccomp
import VMMSysUtil

/// Which threads a filter lands on.
public enum InstallScope: Hashable, Sendable {
    /// The calling thread only, and the threads it creates afterwards. A VMM installs each
    /// category's filter on its own threads this way (API thread, vCPU threads...).
    case currentThread
    /// Every thread of the process (`SECCOMP_FILTER_FLAG_TSYNC`). Fails when a thread has a
    /// filter the calling thread does not have.
    case allThreads
}

/// How a filter is installed, besides its scope.
public struct InstallOptions: Hashable, Sendable {
    /// Set `no_new_privs` first (`prctl(PR_SET_NO_NEW_PRIVS)`). Without it, only a thread with
    /// `CAP_SYS_ADMIN` may install a filter; with it, `execve` can never gain privileges
    /// (set-user-ID bits are ignored), which is what a sandbox wants anyway.
    public var noNewPrivileges: Bool
    /// Log every action other than `allow` in the audit log (`SECCOMP_FILTER_FLAG_LOG`).
    public var logNonAllowActions: Bool
    /// Keep speculative store bypass enabled (`SECCOMP_FILTER_FLAG_SPEC_ALLOW`); by default
    /// the kernel turns the mitigation on for filtered threads.
    public var allowSpeculativeStoreBypass: Bool

    /// Creates options; the defaults set `no_new_privs` and nothing else.
    public init(
        noNewPrivileges: Bool = true, logNonAllowActions: Bool = false, allowSpeculativeStoreBypass: Bool = false
    ) {
        self.noNewPrivileges = noNewPrivileges
        self.logNonAllowActions = logNonAllowActions
        self.allowSpeculativeStoreBypass = allowSpeculativeStoreBypass
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits for `scope` and these options.
    func flags(for scope: InstallScope) -> UInt32 {
        var flags: UInt32 = 0
        if scope == .allThreads { flags |= cseccomp_flag_tsync() }
        if logNonAllowActions { flags |= cseccomp_flag_log() }
        if allowSpeculativeStoreBypass { flags |= cseccomp_flag_spec_allow() }
        return flags
    }
}

/// Why a filter could not be installed.
public enum SeccompInstallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `prctl(PR_SET_NO_NEW_PRIVS)` failed.
    case noNewPrivileges(SystemError)
    /// The kernel refused the program or the flags (`EACCES` without `no_new_privs` or
    /// `CAP_SYS_ADMIN`, `EINVAL` for a program it rejects).
    case seccomp(SystemError)
    /// With ``InstallScope/allThreads``: this thread has a filter the caller does not share,
    /// so nothing was installed anywhere.
    case threadNotSynchronized(threadID: Int32)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .noNewPrivileges(let error): return error.description
        case .seccomp(let error): return error.description
        case .threadNotSynchronized(let thread): return "seccomp(TSYNC): thread \(thread) cannot be synchronised"
        }
    }
}

extension BPFProgram {
    /// Installs the program with `seccomp(SECCOMP_SET_MODE_FILTER)`.
    ///
    /// Filters stack: a thread runs every filter it has, and the strictest answer wins. There
    /// is no way to remove one, so install a category's filter on the threads of that category
    /// only, after they have done their setup.
    ///
    /// ```swift
    /// let vcpuFilter = try programs["vcpu"]!
    /// // on each vCPU thread, before the first KVM_RUN:
    /// try vcpuFilter.install()
    /// ```
    public func install(
        for scope: InstallScope = .currentThread, options: InstallOptions = InstallOptions()
    ) throws(SeccompInstallError) {
        if options.noNewPrivileges, cseccomp_set_no_new_privs() != 0 {
            throw .noNewPrivileges(SystemError("prctl(PR_SET_NO_NEW_PRIVS)", errno: Errno(rawValue: cseccomp_errno())))
        }
        let program = instructions.map { sock_filter(code: $0.code, jt: $0.jumpIfTrue, jf: $0.jumpIfFalse, k: $0.k) }
        let result = unsafe program.withUnsafeBufferPointer { filter in
            // SAFETY: the kernel copies `count` instructions (at most 4096, so the count fits
            // an unsigned short) from the buffer before the call returns.
            unsafe cseccomp_install(filter.baseAddress, UInt16(filter.count), options.flags(for: scope))
        }
        if result < 0 {
            throw .seccomp(SystemError("seccomp(SECCOMP_SET_MODE_FILTER)", errno: Errno(rawValue: cseccomp_errno())))
        }
        if result > 0 { throw .threadNotSynchronized(threadID: result) }
    }
}

/// The seccomp mode of a thread (`prctl(PR_GET_SECCOMP)`).
public enum SeccompMode: Int32, Hashable, Sendable {
    /// No filter.
    case disabled = 0
    /// Strict mode (read, write, exit and sigreturn only).
    case strict = 1
    /// One or more BPF filters.
    case filter = 2
}

/// What the kernel says about the calling thread's sandbox.
///
/// ```swift
/// if try SeccompStatus.currentMode() != .filter {
///     try program.install()
/// }
/// ```
public enum SeccompStatus {
    /// The calling thread's seccomp mode. (A thread in strict mode is killed by asking.)
    public static func currentMode() throws(SystemError) -> SeccompMode {
        let mode = cseccomp_get_mode()
        if mode < 0 { throw SystemError("prctl(PR_GET_SECCOMP)", errno: Errno(rawValue: cseccomp_errno())) }
        return SeccompMode(rawValue: mode) ?? .filter
    }

    /// Whether the calling thread has `no_new_privs` set.
    public static func noNewPrivileges() throws(SystemError) -> Bool {
        let value = cseccomp_get_no_new_privs()
        if value < 0 { throw SystemError("prctl(PR_GET_NO_NEW_PRIVS)", errno: Errno(rawValue: cseccomp_errno())) }
        return value == 1
    }
}
