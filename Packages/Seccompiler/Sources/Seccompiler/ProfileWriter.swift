// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CSeccomp

/// LLVM's coverage profile writer, as a sandbox meets it.
///
/// A coverage-instrumented build (`swift test --enable-code-coverage`) writes its counters
/// from the thread that ends the process, after `main` returns: it opens, sizes, locks and
/// maps the `.profraw` file. A filter that suits the release binary traps there. Add
/// ``rules`` to that thread's filter when ``isLinked``, so coverage runs measure the
/// sandboxed program rather than one that dies while exiting:
///
/// ```swift
/// var filter = SeccompFilter(default: .trap) { Rule("exit_group") }
/// if ProfileWriter.isLinked { filter.rules += ProfileWriter.rules }
/// ```
public enum ProfileWriter {
    /// Whether LLVM's profile runtime is part of this process.
    public static var isLinked: Bool { cseccomp_has_profile_runtime() != 0 }

    /// The calls the writer makes beyond ordinary exit (found with a `log` default action on
    /// a coverage build, plus the locking and sizing calls of its merge mode):
    /// prctl(PR_GET/SET_PDEATHSIG), openat, newfstatat/fstat, lseek, fcntl, flock, ftruncate,
    /// msync, mkdir; it also needs mmap, munmap, write, close and getpid, which an exiting
    /// thread's filter normally allows already.
    public static let rules: [Rule] =
        [
            Rule("prctl", .arg(0, .equal, 1, width: .dword), comment: "PR_SET_PDEATHSIG (profile writer)"),
            Rule("prctl", .arg(0, .equal, 2, width: .dword), comment: "PR_GET_PDEATHSIG (profile writer)"),
        ]
        + ["openat", "newfstatat", "fstat", "lseek", "fcntl", "flock", "ftruncate", "msync", "mkdir"].map {
            Rule($0, comment: "profile writer")
        }
}
