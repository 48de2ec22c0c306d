// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CSeccomp
import VMMSysUtil

/// Turns a `trap` action into one clear line and a chosen exit status.
///
/// A thread that makes a call its filter answers with ``SeccompAction/trap`` receives SIGSYS,
/// which by default ends the process with a core dump and no word about which call it was.
/// After `install`, the process instead writes one line to stderr and exits:
///
/// ```swift
/// try SeccompTrapReporter.install(prefix: "my-vmm", exitStatus: 1)
/// try SeccompFilter(default: .trap) { Rule("write"); Rule("exit_group") }.compile().install()
/// _ = getpid()
/// // stderr: my-vmm: seccomp: thread my-vmm (4242) made the forbidden system call getpid (39)
/// // exit status 1
/// ```
///
/// The handler is process-wide (signal dispositions are shared by all threads) and runs only
/// async-signal-safe code; system call names are resolved when it is installed.
public enum SeccompTrapReporter {
    /// Installs the SIGSYS handler. `prefix` starts the line (63 bytes at most are kept).
    public static func install(prefix: String, exitStatus: Int32) throws(SystemError) {
        // SAFETY: prefix travels as a NUL-terminated C copy alive for the call; the shim copies at most 63 bytes
        // into its own buffer and keeps no pointer to it.
        guard unsafe cseccomp_report_traps(prefix, exitStatus) == 0 else {
            throw SystemError("sigaction(SIGSYS)", errno: Errno(rawValue: cseccomp_errno()))
        }
    }
}
