// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// What the kernel does with a system call a filter looked at.
///
/// A filter has two: its default action (no rule matched) and its match action
/// (some rule matched). An allow-list filter looks like this:
///
/// ```swift
/// let filter = SeccompFilter(default: .errno(EPERM), match: .allow) {
///     Rule("read")
/// }
/// ```
public enum SeccompAction: Hashable, Sendable, CustomStringConvertible {
    /// Let the call run (`SECCOMP_RET_ALLOW`).
    case allow
    /// Fail the call with this error number, without running it (`SECCOMP_RET_ERRNO`).
    /// Valid numbers are 0 through ``maximumErrno``.
    case errno(Int32)
    /// Kill the calling thread (`SECCOMP_RET_KILL_THREAD`); a process's only thread takes the
    /// process with it, terminated by `SIGSYS`.
    case killThread
    /// Kill the whole process with `SIGSYS` (`SECCOMP_RET_KILL_PROCESS`).
    case killProcess
    /// Send `SIGSYS` to the calling thread instead of running the call (`SECCOMP_RET_TRAP`);
    /// the signal's `si_syscall` names the call.
    case trap
    /// Let the call run and record it in the kernel's audit log (`SECCOMP_RET_LOG`).
    case log
    /// Stop for a `ptrace` tracer with this value as the event message (`SECCOMP_RET_TRACE`);
    /// without a tracer the call fails with `ENOSYS`.
    case trace(UInt16)

    /// The largest error number the kernel passes through unchanged (`MAX_ERRNO`); libseccomp
    /// refuses larger ones.
    public static let maximumErrno: Int32 = 4095

    /// The JSON spelling: `allow`, `errno(1)`, `kill_thread`, `kill_process`, `trap`, `log`, `trace(7)`.
    public var description: String {
        switch self {
        case .allow: return "allow"
        case .errno(let code): return "errno(\(code))"
        case .killThread: return "kill_thread"
        case .killProcess: return "kill_process"
        case .trap: return "trap"
        case .log: return "log"
        case .trace(let data): return "trace(\(data))"
        }
    }
}
