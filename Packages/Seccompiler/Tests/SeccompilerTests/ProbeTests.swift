// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Seccompiler
import Testing
import VMMSysUtil

/// Kill, trap, log and TSYNC change or end a whole process, so these run in forked
/// children through `BPFProgram.probe`, against the real kernel.
@Suite struct ProbeTests {
    @Test func killProcessEndsTheChildWithSIGSYS() throws {
        let program = try SeccompFilter(default: .killProcess) { Rule("getppid") }.compile()
        #expect(try program.probe("getppid") == .returned(Int(getpid())))
        #expect(try program.probe("getpid") == .killed(signal: SIGSYS))
        // The other thread's call kills every thread, with TSYNC or without... when the filter
        // reaches it: without TSYNC the other thread is unfiltered.
        #expect(try program.probe("getpid", caller: .otherThread, scope: .allThreads) == .killed(signal: SIGSYS))
        let unfiltered = try program.probe("getpid", caller: .otherThread, scope: .currentThread)
        guard case .returned(let childPID) = unfiltered else {
            Issue.record("expected the unfiltered thread's getpid to return, got \(unfiltered)")
            return
        }
        #expect(childPID > 0 && childPID != Int(getpid()))
    }

    @Test func killThreadTakesOnlyTheCallingThread() throws {
        let program = try SeccompFilter(default: .allow, match: .killThread) { Rule("getpid") }.compile()
        // The only thread: the process goes with it.
        #expect(try program.probe("getpid") == .killed(signal: SIGSYS))
        // One of two threads: the other lives on.
        #expect(try program.probe("getpid", caller: .otherThread, scope: .allThreads) == .threadKilled)
    }

    @Test func trapDeliversSIGSYSNamingTheCall() throws {
        let program = try SeccompFilter(default: .trap) { Rule("getppid") }.compile()
        #expect(try program.probe("getpid") == .trapped(syscall: number("getpid"), data: 0))
        #expect(try program.probe("uname", arguments: [0]) == .trapped(syscall: number("uname"), data: 0))
        #expect(try program.probe("getppid") == .returned(Int(getpid())))
        #expect(
            try program.probe("getpid", caller: .otherThread, scope: .allThreads)
                == .trapped(syscall: number("getpid"), data: 0))
    }

    @Test func errnoAndTraceActionsFailTheCall() throws {
        let program = try SeccompFilter(default: .allow, match: .errno(EXDEV)) { Rule("getpid") }.compile()
        #expect(try program.probe("getpid") == .failed(Errno(rawValue: EXDEV)))
        // Without a tracer, SECCOMP_RET_TRACE fails the call with ENOSYS.
        let traced = try SeccompFilter(default: .allow, match: .trace(7)) { Rule("getpid") }.compile()
        #expect(try traced.probe("getpid") == .failed(.notImplemented))
    }

    @Test func logLetsTheCallRun() throws {
        // SECCOMP_RET_LOG runs the call; its audit record only appears where an audit context
        // exists (auditd or audit rules), since no signal forces one, so the record is not checked.
        let logged = try SeccompFilter(default: .errno(EPERM), match: .log) { Rule("getpid") }.compile()
        let outcome = try logged.probe("getpid")
        guard case .returned(let childPID) = outcome else {
            Issue.record("a logged call must run, got \(outcome)")
            return
        }
        #expect(childPID > 0 && childPID != Int(getpid()))
        // Everything else still meets the default action.
        #expect(try logged.probe("getppid") == .failed(.notPermitted))
        // As a default action, log lets every call through.
        let logAll = try SeccompFilter(default: .log, match: .errno(EPERM)) { Rule("getpid") }.compile()
        #expect(try logAll.probe("getppid") == .returned(Int(getpid())))
        #expect(try logAll.probe("getpid") == .failed(.notPermitted))
    }

    @Test func threadSyncReachesThreadsThatAlreadyExist() throws {
        let program = try SeccompFilter(default: .allow, match: .errno(EPERM)) { Rule("getpid") }.compile()
        #expect(try program.probe("getpid", caller: .otherThread, scope: .allThreads) == .failed(.notPermitted))
        let perThread = try program.probe("getpid", caller: .otherThread, scope: .currentThread)
        guard case .returned(let pid) = perThread else {
            Issue.record("without TSYNC the other thread must be unfiltered, got \(perThread)")
            return
        }
        #expect(pid > 0)
    }

    /// Every comparison, both widths, against a reference evaluation: the kernel must agree
    /// with the documented semantics, including the dword rules for garbage in the upper half.
    @Test(arguments: [
        Comparison.equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual, .maskedEqual(0xF0F),
    ])
    func comparisonsMatchTheirDocumentedSemantics(comparison: Comparison) throws {
        let value: UInt64 = 0x305
        let samples: [UInt64] = [0x304, 0x305, 0x306, 0x1_0000_0305, 0xFFFF_FFFF_FFFF_FFFF, 0x7305]
        for width in ArgumentWidth.allCases {
            let program = try SeccompFilter(default: .errno(EPERM)) {
                Rule("getppid", .arg(0, comparison, value, width: width))
            }.compile()
            for sample in samples {
                let expected: ProbeOutcome =
                    reference(comparison, width, sample, value) ? .returned(Int(getpid())) : .failed(.notPermitted)
                let outcome = try program.probe("getppid", arguments: [sample])
                #expect(outcome == expected, "\(comparison) \(width) \(sample) vs \(value)")
            }
        }
    }

    @Test func severalConditionsMustAllHold() throws {
        let program = try SeccompFilter(default: .errno(EPERM)) {
            Rule("getppid", .arg(0, .equal, 1, width: .dword), .arg(2, .greater, 10))
            Rule("getppid", .arg(5, .equal, 99))  // or this one
        }.compile()
        let parent = ProbeOutcome.returned(Int(getpid()))
        #expect(try program.probe("getppid", arguments: [1, 0, 11]) == parent)
        #expect(try program.probe("getppid", arguments: [1, 0, 10]) == .failed(.notPermitted))
        #expect(try program.probe("getppid", arguments: [2, 0, 11]) == .failed(.notPermitted))
        #expect(try program.probe("getppid", arguments: [0, 0, 0, 0, 0, 99]) == parent)
    }

    @Test func probeArgumentsAreChecked() throws {
        let program = try SeccompFilter(default: .allow, match: .errno(EPERM)) { Rule("getpid") }.compile()
        #expect(throws: SeccompProbeError.unknownSyscall("not_a_call")) { try program.probe("not_a_call") }
        #expect(throws: SeccompProbeError.tooManyArguments(7)) {
            try program.probe("getpid", arguments: [1, 2, 3, 4, 5, 6, 7])
        }
        // A program the kernel refuses is reported from the child.
        let broken = try BPFProgram(instructions: [BPFInstruction(code: 0x20, jumpIfTrue: 0, jumpIfFalse: 0, k: 0)])
        let refused = SystemError("seccomp(SECCOMP_SET_MODE_FILTER)", errno: .invalidArgument)
        #expect(throws: SeccompProbeError.install(.seccomp(refused))) { try broken.probe("getpid") }
    }

    @Test func aProgramForAnotherArchitectureKillsOnTheArchitectureCheck() throws {
        let foreign: Architecture = Architecture.native == .aarch64 ? .x86_64 : .aarch64
        let program = try SeccompFilter(default: .allow) { Rule("read") }.compile(for: foreign)
        // libseccomp's default for a foreign architecture is SECCOMP_RET_KILL_THREAD; this
        // process has one thread, so it dies.
        #expect(try program.probe("getppid") == .killed(signal: SIGSYS))
    }
}

/// The documented semantics of a condition, evaluated in Swift.
private func reference(_ comparison: Comparison, _ width: ArgumentWidth, _ argument: UInt64, _ value: UInt64) -> Bool {
    switch comparison {
    case .equal: return width == .dword ? argument & 0xFFFF_FFFF == value : argument == value
    case .notEqual: return argument != value
    case .less: return argument < value
    case .lessOrEqual: return argument <= value
    case .greater: return argument > value
    case .greaterOrEqual: return argument >= value
    case .maskedEqual(let mask): return argument & mask == value
    }
}
