// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Seccompiler

/// A small VMM policy in Firecracker's format, using every operator, both widths, both key
/// spellings, every action form and comments at each level.
let vmmPolicyJSON = #"""
    {
        "vmm": {
            "default_action": "trap",
            "filter_action": "allow",
            "comment": "the main thread after setup",
            "filter": [
                {"syscall": "read"},
                {"syscall": "write", "comment": "serial console and logs"},
                {
                    "syscall": "ioctl",
                    "comment": "KVM_RUN only",
                    "args": [
                        {"index": 1, "type": "dword", "op": "eq", "val": 44672, "comment": "KVM_RUN"}
                    ]
                },
                {
                    "syscall": "mmap",
                    "args": [
                        {"index": 2, "type": "dword", "op": {"masked_eq": 4}, "val": 0, "comment": "no PROT_EXEC"},
                        {"index": 1, "type": "qword", "op": "le", "val": 1073741824}
                    ]
                },
                {"syscall": "futex", "args": [{"index": 1, "type": "dword", "op": "ne", "val": 6}]},
                {"syscall": "lseek", "args": [{"index": 2, "type": "dword", "op": "lt", "val": 3}]},
                {"syscall": "close", "args": [{"index": 0, "type": "dword", "op": "gt", "val": 2}]},
                {"syscall": "dup", "args": [{"index": 0, "type": "dword", "op": "ge", "val": 3}]}
            ]
        },
        "vcpu": {
            "mismatch_action": {"errno": 1},
            "match_action": "allow",
            "filter": [
                {"syscall": "ioctl", "args": [{"arg_index": 1, "arg_type": "dword", "op": "eq", "val": 44672}]},
                {"syscall": "exit"},
                {"syscall": "rt_sigreturn"}
            ]
        },
        "api": {
            "default_action": "kill_process",
            "filter_action": {"trace": 3},
            "filter": [{"syscall": "accept4", "args": [{"index": 3, "type": "dword", "op": "eq", "val": 524288}]}]
        },
        "audit": {"default_action": "log", "filter_action": "kill_thread", "filter": [{"syscall": "ptrace"}]}
    }
    """#

/// The same policy written with the DSL.
let vmmPolicyDSL: SeccompPolicy = {
    let kvmRun: UInt64 = 0xAE80
    var vmm = SeccompFilter(default: .trap) {
        Rule("read")
        Rule("write", comment: "serial console and logs")
        Rule("ioctl", .arg(1, .equal, kvmRun, width: .dword, comment: "KVM_RUN"), comment: "KVM_RUN only")
        Rule(
            "mmap",
            .arg(2, .maskedEqual(UInt64(PROT_EXEC)), 0, width: .dword, comment: "no PROT_EXEC"),
            .arg(1, .lessOrEqual, 1 << 30))
        Rule("futex", .arg(1, .notEqual, 6, width: .dword))
        Rule("lseek", .arg(2, .less, 3, width: .dword))
        Rule("close", .arg(0, .greater, 2, width: .dword))
        Rule("dup", .arg(0, .greaterOrEqual, 3, width: .dword))
    }
    vmm.comment = "the main thread after setup"
    let vcpu = SeccompFilter(default: .errno(EPERM), match: .allow) {
        Rule("ioctl", .arg(1, .equal, kvmRun, width: .dword))
        for name in ["exit", "rt_sigreturn"] { Rule(name) }
    }
    let api = SeccompFilter(default: .killProcess, match: .trace(3)) {
        Rule("accept4", .arg(3, .equal, SOCK_CLOEXEC.rawValue, width: .dword))
    }
    let audit = SeccompFilter(default: .log, match: .killThread) { Rule("ptrace") }
    return SeccompPolicy(["vmm": vmm, "vcpu": vcpu, "api": api, "audit": audit])
}()
