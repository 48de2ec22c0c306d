// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Seccompiler

/// The seccomp filter a device daemon runs under once it listens: what serving front-ends
/// needs (the connection, its memory tables, rings, kicks and calls, the device's own I/O),
/// nothing else: no `open`, `execve`, `ptrace`, `ioctl`. A call outside it traps; the trap
/// reporter prints one line naming the call, and the daemon exits with status 1.
///
/// The daemons install it on every thread (`SECCOMP_FILTER_FLAG_TSYNC`) right after the
/// socket listens; `--no-seccomp` leaves it off (for debugging with strace).
///
/// ```swift
/// try DaemonSandbox.install(name: "vhost-device-gpio", extra: [Rule("ioctl", .arg(1, .equal, 0xC010_B404))])
/// ```
public enum DaemonSandbox {
    /// Every call a daemon serving a front-end makes, by what makes it.
    public static var rules: [Rule] {
        let calls: [(String, [String])] = [
            (
                "connection",
                ["accept", "accept4", "recvfrom", "recvmsg", "sendmsg", "sendto", "setsockopt", "shutdown"]
            ),
            ("event loop", ["epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "eventfd2", "read", "write"]),
            ("memory tables and the runtime", ["mmap", "munmap", "mprotect", "madvise", "mremap", "brk"]),
            (
                "block I/O",
                [
                    "pread64", "pwrite64", "preadv", "pwritev", "readv", "writev", "fsync", "fdatasync",
                    "fallocate", "lseek", "fstat", "newfstatat",
                ]
            ),
            ("vsock: guest connections to Unix sockets", ["socket", "connect", "getsockopt", "fcntl"]),
            ("rate limits", ["timerfd_create", "timerfd_settime", "clock_gettime", "clock_nanosleep", "nanosleep"]),
            ("entropy", ["getrandom"]),
            (
                "threads and exit",
                [
                    "futex", "sched_yield", "getpid", "gettid", "tgkill", "rt_sigprocmask",
                    "rt_sigreturn", "close", "unlink", "exit", "exit_group",
                ]
            ),
        ]
        var rules = calls.flatMap { reason, names in names.map { Rule($0, comment: reason) } }
        rules.append(Rule("prctl", .arg(0, .equal, 16, width: .dword), comment: "PR_GET_NAME (trap reporter)"))
        // A coverage build writes its counters as the process exits.
        if ProfileWriter.isLinked { rules += ProfileWriter.rules }
        return rules
    }

    /// The filter: ``rules`` and a device's `extra` rules allowed, anything else trapped.
    public static func filter(extra: [Rule] = []) -> SeccompFilter {
        SeccompFilter(default: .trap, rules: rules + extra)
    }

    /// Installs the trap reporter (lines start with `name`) and the filter, with a device's
    /// `extra` rules, on every thread.
    public static func install(name: String, extra: [Rule] = []) throws(DaemonSandboxError) {
        do {
            try SeccompTrapReporter.install(prefix: name, exitStatus: 1)
        } catch {
            throw DaemonSandboxError(description: "seccomp trap reporter: \(error)")
        }
        let program: BPFProgram
        do {
            program = try filter(extra: extra).compile()
        } catch {
            throw DaemonSandboxError(description: "seccomp filter: \(error)")
        }
        do {
            try program.install(for: .allThreads)
        } catch {
            throw DaemonSandboxError(description: "seccomp filter: \(error)")
        }
    }
}

/// Why the daemon's filter could not be installed.
public struct DaemonSandboxError: Error, Sendable, CustomStringConvertible {
    /// One line.
    public let description: String
}
