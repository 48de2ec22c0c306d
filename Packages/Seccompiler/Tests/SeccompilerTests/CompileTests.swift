// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Seccompiler
import Testing
import VMMSysUtil

/// Classic BPF opcodes used to read programs back.
private let loadWordAbsolute: UInt16 = 0x20  // BPF_LD | BPF_W | BPF_ABS
private let jumpIfEqual: UInt16 = 0x15  // BPF_JMP | BPF_JEQ | BPF_K
private let returnConstant: UInt16 = 0x06  // BPF_RET | BPF_K
private let archOffset: UInt32 = 4  // offsetof(struct seccomp_data, arch)
private let auditArchX86_64: UInt32 = 0xC000_003E
private let auditArchAArch64: UInt32 = 0xC000_00B7

@Suite struct CompileTests {
    @Test func programsCheckTheArchitectureAndEndInTheActions() throws {
        let program = try SeccompFilter(default: .errno(EPERM)) { Rule("getppid") }.compile(for: .x86_64)
        let instructions = program.instructions
        #expect(
            instructions.first == BPFInstruction(code: loadWordAbsolute, jumpIfTrue: 0, jumpIfFalse: 0, k: archOffset))
        #expect(instructions.contains { $0.code == jumpIfEqual && $0.k == auditArchX86_64 })
        #expect(instructions.contains { $0.code == jumpIfEqual && $0.k == UInt32(number("getppid")) })
        // SECCOMP_RET_ERRNO | EPERM and SECCOMP_RET_ALLOW are both returned somewhere.
        #expect(instructions.contains { $0.code == returnConstant && $0.k == 0x0005_0000 | UInt32(EPERM) })
        #expect(instructions.contains { $0.code == returnConstant && $0.k == 0x7FFF_0000 })
        #expect(program.bytes.count == instructions.count * 8)
    }

    @Test func bytesRoundTripAndAreValidated() throws {
        let program = try SeccompFilter(default: .trap) {
            Rule("read")
            Rule("ioctl", .arg(1, .equal, 0xAE80, width: .dword))
        }.compile()
        let bytes = program.bytes
        #expect(try BPFProgram(bytes: bytes) == program)
        // First instruction, little-endian on every supported architecture: code 0x20, k 4.
        #expect(Array(bytes[0..<8]) == [0x20, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00])
        #expect(throws: BPFProgramError.partialInstruction(byteCount: 7)) { try BPFProgram(bytes: Array(bytes[0..<7])) }
        #expect(throws: BPFProgramError.empty) { try BPFProgram(bytes: []) }
        #expect(throws: BPFProgramError.tooLong(count: 4097)) {
            try BPFProgram(bytes: [UInt8](repeating: 6, count: 4097 * 8))
        }
        #expect(throws: BPFProgramError.empty) { try BPFProgram(instructions: []) }
        #expect(
            BPFInstruction(code: 0x15, jumpIfTrue: 1, jumpIfFalse: 0, k: 39).description
                == "{ 0x0015, 1, 0, 0x00000027 }")
    }

    @Test func compilationIsDeterministic() throws {
        let first = try SeccompPolicy(json: vmmPolicyJSON).compile()
        let second = try SeccompPolicy(json: vmmPolicyJSON).compile()
        #expect(first == second)
        #expect(first.keys.sorted() == ["api", "audit", "vcpu", "vmm"])
    }

    /// The JSON file and the DSL describe the same policy; libseccomp must see the same thing.
    @Test func dslAndJSONCompileToIdenticalBytes() throws {
        let fromJSON = try SeccompPolicy(json: vmmPolicyJSON).compile()
        let fromDSL = try vmmPolicyDSL.compile()
        for name in vmmPolicyDSL.names {
            let json = try #require(fromJSON[name])
            let dsl = try #require(fromDSL[name])
            #expect(json.bytes == dsl.bytes, "filter \(name)")
        }
        // And a change on one side shows.
        var changed = vmmPolicyDSL
        changed["vcpu"]?.rules.append(Rule("write"))
        #expect(try changed.compile()["vcpu"]?.bytes != fromJSON["vcpu"]?.bytes)
    }

    @Test func otherArchitecturesUseTheirOwnNumbers() throws {
        let filter = SeccompFilter(default: .errno(EPERM)) { Rule("openat") }
        let arm = try filter.compile(for: .aarch64)
        let x86 = try filter.compile(for: .x86_64)
        #expect(arm.instructions.contains { $0.code == jumpIfEqual && $0.k == auditArchAArch64 })
        #expect(!arm.instructions.contains { $0.k == auditArchX86_64 })
        #expect(
            arm.instructions.contains {
                $0.code == jumpIfEqual && $0.k == UInt32(Architecture.aarch64.syscallNumber("openat")!)
            })
        #expect(x86.instructions.contains { $0.code == jumpIfEqual && $0.k == 257 })  // openat on x86_64
        #expect(Architecture.aarch64.syscallNumber("openat") == 56)
        #expect(Architecture.riscv64.syscallNumber("openat") == 56)
        #expect(Architecture.x86_64.syscallName(257) == "openat")
        #expect(Architecture.aarch64.syscallNumber("open") == nil)
        #expect(throws: SeccompCompileError(.unknownSyscall("open"), ruleIndex: 0)) {
            _ = try SeccompFilter(default: .trap) { Rule("open") }.compile(for: .aarch64)
        }
        #expect(Architecture.native == .x86_64 || Architecture.native == .aarch64 || Architecture.native == .riscv64)
        // A call only the target has reaches libseccomp as the host's pseudo number and still
        // lands in the program under the target's number.
        let flush = try #require(Architecture.riscv64.syscallNumber("riscv_flush_icache"))
        #expect(Architecture.x86_64.syscallNumber("riscv_flush_icache") == nil)
        let riscv = try SeccompFilter(default: .errno(EPERM)) { Rule("riscv_flush_icache") }.compile(for: .riscv64)
        #expect(riscv.instructions.contains { $0.code == jumpIfEqual && $0.k == UInt32(flush) })
    }

    @Test func invalidRulesAreRejectedWithTheirIndex() {
        func compile(_ rules: [Rule], default action: SeccompAction = .trap) throws(SeccompCompileError) {
            _ = try SeccompFilter(default: action, rules: rules).compile()
        }
        #expect(throws: SeccompCompileError(.unknownSyscall("reed"), ruleIndex: 1)) {
            try compile([Rule("read"), Rule("reed")])
        }
        #expect(throws: SeccompCompileError(.unknownSyscall("read\u{0}"), ruleIndex: 0)) {
            try compile([Rule("read\u{0}")])
        }
        #expect(throws: SeccompCompileError(.unknownSyscall(""), ruleIndex: 0)) { try compile([Rule("")]) }
        #expect(throws: SeccompCompileError(.argumentIndexOutOfRange(6), ruleIndex: 0)) {
            try compile([Rule("read", .arg(6, .equal, 0))])
        }
        #expect(throws: SeccompCompileError(.argumentIndexOutOfRange(-1), ruleIndex: 0)) {
            try compile([Rule("read", .arg(-1, .equal, 0))])
        }
        #expect(throws: SeccompCompileError(.duplicateArgumentIndex(1), ruleIndex: 0)) {
            try compile([Rule("read", .arg(1, .greater, 0), .arg(1, .less, 9))])
        }
        #expect(throws: SeccompCompileError(.valueTooWideForDword(1 << 32), ruleIndex: 0)) {
            try compile([Rule("read", .arg(0, .equal, 1 << 32, width: .dword))])
        }
        #expect(throws: SeccompCompileError(.valueTooWideForDword(1 << 40), ruleIndex: 0)) {
            try compile([Rule("read", .arg(0, .maskedEqual(1 << 40), 0, width: .dword))])
        }
        #expect(throws: SeccompCompileError(.valueTooWideForDword(0xFFFF_FFFF_7FFF_FFFF), ruleIndex: 0)) {
            try compile([Rule("read", .arg(0, .equal, Int64(Int32.min) - 1, width: .dword))])
        }
        #expect(throws: SeccompCompileError(.errnoOutOfRange(4096))) { try compile([], default: .errno(4096)) }
        #expect(throws: SeccompCompileError(.errnoOutOfRange(-1))) { try compile([], default: .errno(-1)) }
    }

    @Test func errorsFromJSONPolicyCarryTheFilterAndPosition() throws {
        // Valid on x86_64 (where it was parsed), unknown on aarch64 (where it is compiled).
        let json =
            "{\"vmm\": {\"default_action\": \"trap\", \"filter_action\": \"allow\",\n \"filter\": [{\"syscall\": \"read\"}, {\"syscall\": \"open\"}]}}"
        let policy = try SeccompPolicy(json: json, architecture: .x86_64)
        let expected = SeccompCompileError(
            .unknownSyscall("open"), filter: "vmm", ruleIndex: 1, position: SourcePosition(line: 2, column: 46))
        #expect(throws: expected) { _ = try policy.compile(for: .aarch64) }
        #expect(expected.description == #"filter "vmm", rule 1, at 2:46: unknown system call "open""#)
    }

    @Test func matchEqualToDefaultLeavesOnlyTheDefault() throws {
        let same = try SeccompFilter(default: .trap, match: .trap) {
            Rule("read"); Rule("write")
        }.compile()
        let empty = try SeccompFilter(default: .trap, rules: []).compile()
        #expect(same == empty)
        // Its rules are still checked.
        #expect(throws: SeccompCompileError(.unknownSyscall("nope"), ruleIndex: 0)) {
            _ = try SeccompFilter(default: .trap, match: .trap) { Rule("nope") }.compile()
        }
    }

    @Test func oversizedFiltersFailInsteadOfProducingAnUnloadableProgram() {
        // 6000 distinct conditions need more than the kernel's 4096 instructions.
        let rules = (0..<6000).map { Rule("ioctl", .arg(1, .equal, $0, width: .dword)) }
        do {
            _ = try SeccompFilter(default: .errno(EPERM), rules: rules).compile()
            Issue.record("a 6000-rule filter cannot fit 4096 instructions")
        } catch {
            switch error.kind {
            case .program(.tooLong), .libseccomp: break
            default: Issue.record("unexpected \(error)")
            }
        }
    }
}
