// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Seccompiler
import Testing
import VMMSysUtil

@Suite struct DSLTests {
    @Test func builderAcceptsLoopsConditionalsAndArrays() {
        // Runtime values, so the compiler cannot fold the branches away.
        let debug = getpid() > 0
        let release = !debug
        let threads = Int(getpid() > 0 ? 2 : 1)
        let filter = SeccompFilter(default: .errno(EPERM)) {
            Rule("read")
            [Rule("write"), Rule("close")]
            for name in ["futex", "exit"] { Rule(name) }
            if debug { Rule("ptrace") }
            if release { Rule("never") }
            if release {
                Rule("not this")
            } else {
                Rule("uname")
            }
            switch threads {
            case 1: Rule("one")
            default: Rule("getppid")
            }
        }
        #expect(
            filter.rules.map(\.syscall) == ["read", "write", "close", "futex", "exit", "ptrace", "uname", "getppid"])
        #expect(filter.defaultAction == .errno(EPERM))
        #expect(filter.matchAction == .allow)
    }

    @Test func conditionValuesUseTheArgumentsWidth() {
        #expect(ArgumentCondition.arg(0, .equal, -1, width: .dword).value == 0xFFFF_FFFF)
        #expect(ArgumentCondition.arg(0, .equal, -1).value == UInt64.max)
        #expect(ArgumentCondition.arg(0, .equal, Int32.min, width: .dword).value == 0x8000_0000)
        // Too negative for a dword: kept as 64 bits, so compilation refuses it instead of
        // silently comparing against something else.
        #expect(ArgumentCondition.arg(0, .equal, Int64(Int32.min) - 1, width: .dword).value == 0xFFFF_FFFF_7FFF_FFFF)
        #expect(ArgumentCondition.arg(3, .greater, UInt8(7)).value == 7)
        let condition = ArgumentCondition.arg(2, .maskedEqual(0o3), 1, width: .dword, comment: "O_WRONLY")
        #expect(condition.index == 2 && condition.comparison == .maskedEqual(3) && condition.comment == "O_WRONLY")
    }

    @Test func equalityIgnoresPositionsOnly() {
        var located = Rule("read", .arg(0, .equal, 1))
        located.sourcePosition = SourcePosition(line: 3, column: 4)
        located.conditions[0].sourcePosition = SourcePosition(line: 3, column: 20)
        let plain = Rule("read", .arg(0, .equal, 1))
        #expect(located == plain)
        #expect(Set([located, plain]).count == 1)
        #expect(Rule("read", comment: "a") != Rule("read", comment: "b"))
        #expect(Rule("read", .arg(0, .equal, 1)) != Rule("read", .arg(0, .equal, 1, width: .dword)))
        #expect(Rule("read", .arg(0, .equal, 1)) != Rule("read", .arg(1, .equal, 1)))
    }

    @Test func descriptionsUseTheJSONSpellings() {
        #expect(SeccompAction.errno(EPERM).description == "errno(1)")
        #expect(SeccompAction.killProcess.description == "kill_process")
        #expect(SeccompAction.trace(9).description == "trace(9)")
        #expect(Comparison.lessOrEqual.description == "le")
        #expect(Comparison.maskedEqual(8).description == "masked_eq(8)")
        #expect(SourcePosition(line: 2, column: 9).description == "2:9")
        #expect(SourcePosition(line: 2, column: 9) < SourcePosition(line: 3, column: 1))
    }

    @Test func errorsAndOutcomesDescribeThemselves() {
        let refused = SystemError("seccomp(SECCOMP_SET_MODE_FILTER)", errno: .invalidArgument)
        #expect(SeccompInstallError.seccomp(refused).description == refused.description)
        #expect(SeccompInstallError.threadNotSynchronized(threadID: 42).description.contains("thread 42"))
        #expect(SeccompProbeError.tooManyArguments(7).description.contains("7 arguments"))
        #expect(SeccompProbeError.unknownSyscall("x").description == #"unknown system call "x""#)
        #expect(ProbeOutcome.failed(.notPermitted).description == "failed: Operation not permitted (errno 1)")
        #expect(ProbeOutcome.trapped(syscall: 39, data: 0).description == "trapped: SIGSYS for syscall 39, data 0")
        #expect(ProbeOutcome.killed(signal: 31).description == "killed by signal 31")
        #expect(BPFProgramError.tooLong(count: 5000).description.contains("4096"))
        #expect(
            SeccompCompileError(.valueTooWideForDword(1 << 32), ruleIndex: 2).description
                == "rule 2: 4294967296 does not fit a dword (32 bits)")
    }

    @Test func policiesAreEditableByName() {
        var policy = SeccompPolicy([:])
        policy["vcpu"] = SeccompFilter(default: .trap) { Rule("ioctl") }
        policy["api"] = SeccompFilter(default: .trap) { Rule("accept4") }
        #expect(policy.names == ["api", "vcpu"])
        policy["api"] = nil
        #expect(policy.names == ["vcpu"])
    }
}
