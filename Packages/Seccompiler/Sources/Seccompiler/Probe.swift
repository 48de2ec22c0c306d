// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CSeccomp
import VMMSysUtil

/// Which thread of the probe process makes the system call.
public enum ProbeCaller: Hashable, Sendable {
    /// The thread that installed the filter.
    case installingThread
    /// A second thread that already existed when the filter was installed: it is filtered
    /// only with ``InstallScope/allThreads``.
    case otherThread
}

/// What happened to a probed system call.
public enum ProbeOutcome: Hashable, Sendable, CustomStringConvertible {
    /// The call ran (or was logged and ran) and returned this value.
    case returned(Int)
    /// The call returned -1 with this error (for a filter: its `errno` action).
    case failed(Errno)
    /// `SIGSYS` arrived from a `trap` action: the trapped call's number and the action's data.
    case trapped(syscall: Int32, data: UInt16)
    /// The process was terminated by this signal (`SIGSYS` for `kill_process`, or for
    /// `kill_thread` when the caller was the only thread).
    case killed(signal: Int32)
    /// The calling thread vanished while the rest of the process lived on (`kill_thread`).
    case threadKilled
    /// The process exited by itself with this status.
    case exited(status: Int32)
    /// Nothing conclusive happened before the timeout (a `trace` action without a tracer
    /// returns `ENOSYS` instead, so this points at a blocked call).
    case timedOut

    /// A one-line summary.
    public var description: String {
        switch self {
        case .returned(let value): return "returned \(value)"
        case .failed(let error): return "failed: \(error) (errno \(error.rawValue))"
        case .trapped(let syscall, let data): return "trapped: SIGSYS for syscall \(syscall), data \(data)"
        case .killed(let signal): return "killed by signal \(signal)"
        case .threadKilled: return "calling thread killed"
        case .exited(let status): return "exited with status \(status)"
        case .timedOut: return "timed out"
        }
    }
}

/// Why a probe could not run.
public enum SeccompProbeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The host has no system call of this name.
    case unknownSyscall(String)
    /// More than six arguments.
    case tooManyArguments(Int)
    /// Creating the child failed (`mmap`, `fork`), or a setup step inside it did.
    case system(SystemError)
    /// The child could not install the program.
    case install(SeccompInstallError)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .unknownSyscall(let name): return "unknown system call \"\(name)\""
        case .tooManyArguments(let count): return "\(count) arguments; system calls take at most 6"
        case .system(let error): return error.description
        case .install(let error): return error.description
        }
    }
}

extension BPFProgram {
    /// Runs one system call under this program in a disposable child process and reports
    /// what the kernel did, without touching the calling process.
    ///
    /// The child installs the program (as ``install(for:options:)`` would, with `scope` and
    /// `options`), makes the call with `arguments` as raw register values, and is killed
    /// afterwards; it reports through shared memory, so the filter may refuse it every other
    /// call. Use it to check a filter before trusting a thread to it, or to watch `kill_process`
    /// and `trap` at work.
    ///
    /// ```swift
    /// let program = try SeccompFilter(default: .killProcess) { Rule("getppid") }.compile()
    /// try program.probe("getppid")  // .returned(<parent pid>)
    /// try program.probe("getpid")   // .killed(signal: SIGSYS)
    /// ```
    public func probe(
        _ syscall: String, arguments: [UInt64] = [], caller: ProbeCaller = .installingThread,
        scope: InstallScope = .currentThread, options: InstallOptions = InstallOptions(),
        timeout: Duration = .seconds(5)
    ) throws(SeccompProbeError) -> ProbeOutcome {
        guard let number = Architecture.hostSyscallNumber(syscall) else { throw .unknownSyscall(clipped(syscall)) }
        guard arguments.count <= 6 else { throw .tooManyArguments(arguments.count) }
        let padded = arguments + Array(repeating: 0, count: 6 - arguments.count)
        let milliseconds = Int32(clamping: max(1, timeout.wholeMillisecondsRoundedUp))
        let program = instructions.map { sock_filter(code: $0.code, jt: $0.jumpIfTrue, jf: $0.jumpIfFalse, k: $0.k) }
        var result = cseccomp_probe_result()
        // SAFETY: the buffer is used only inside the closure, by cseccomp_probe, which has
        // reaped the child before it returns.
        let status = unsafe program.withUnsafeBufferPointer { filter in
            var request = unsafe cseccomp_probe_request()
            // SAFETY: `filter`'s address and exact count (valid in this closure); the rest are plain integer fields.
            unsafe request.filter = filter.baseAddress
            unsafe request.count = UInt16(filter.count)
            unsafe request.flags = options.flags(for: scope)
            unsafe request.set_no_new_privs = options.noNewPrivileges ? 1 : 0
            // SAFETY: plain integer stores into a local struct (unsafe only because it holds `filter`).
            unsafe request.on_other_thread = caller == .otherThread ? 1 : 0
            unsafe request.syscall_number = Int(number)
            unsafe request.arguments = (
                UInt(truncatingIfNeeded: padded[0]), UInt(truncatingIfNeeded: padded[1]),
                UInt(truncatingIfNeeded: padded[2]), UInt(truncatingIfNeeded: padded[3]),
                UInt(truncatingIfNeeded: padded[4]), UInt(truncatingIfNeeded: padded[5])
            )
            unsafe request.timeout_ms = milliseconds
            // SAFETY: the request points into `filter`, which outlives the call; the child works
            // on its own copy after fork, and the parent reads both only before returning.
            return unsafe cseccomp_probe(&request, &result)
        }
        if status != 0 { throw .system(SystemError("probe (mmap/fork)", errno: Errno(rawValue: cseccomp_errno()))) }
        return try outcome(of: result)
    }

    private func outcome(of result: cseccomp_probe_result) throws(SeccompProbeError) -> ProbeOutcome {
        switch Int(result.stage) {
        case Int(CSECCOMP_PROBE_SETUP_FAILED):
            throw .system(SystemError("probe child setup", errno: Errno(rawValue: result.install_errno)))
        case Int(CSECCOMP_PROBE_INSTALL_FAILED):
            if result.install_result > 0 { throw .install(.threadNotSynchronized(threadID: result.install_result)) }
            if result.install_errno == 0 { throw .system(SystemError("probe child setup", errno: .invalidArgument)) }
            let error = SystemError("seccomp(SECCOMP_SET_MODE_FILTER)", errno: Errno(rawValue: result.install_errno))
            throw .install(.seccomp(error))
        case Int(CSECCOMP_PROBE_RETURNED):
            if result.return_value == -1 { return .failed(Errno(rawValue: result.error_number)) }
            return .returned(result.return_value)
        case Int(CSECCOMP_PROBE_TRAPPED):
            return .trapped(syscall: result.trap_syscall, data: UInt16(truncatingIfNeeded: result.trap_data))
        default:
            if result.exited != 0 {
                return result.signal != 0 ? .killed(signal: result.signal) : .exited(status: result.exit_status)
            }
            return result.thread_killed != 0 ? .threadKilled : .timedOut
        }
    }
}
