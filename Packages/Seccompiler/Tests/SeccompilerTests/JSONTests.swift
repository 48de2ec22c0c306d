// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Seccompiler
import Testing

@Suite struct JSONTests {
    @Test func firecrackerStylePolicyParsesToTheModel() throws {
        let policy = try SeccompPolicy(json: vmmPolicyJSON)
        #expect(policy.names == ["api", "audit", "vcpu", "vmm"])
        let vmm = try #require(policy["vmm"])
        #expect(vmm.defaultAction == .trap)
        #expect(vmm.matchAction == .allow)
        #expect(vmm.comment == "the main thread after setup")
        #expect(vmm.rules.map(\.syscall) == ["read", "write", "ioctl", "mmap", "futex", "lseek", "close", "dup"])
        let mmap = vmm.rules[3]
        #expect(mmap.conditions.count == 2)
        #expect(mmap.conditions[0].comparison == .maskedEqual(4))
        #expect(mmap.conditions[0].width == .dword)
        #expect(mmap.conditions[0].comment == "no PROT_EXEC")
        #expect(
            mmap.conditions[1] == ArgumentCondition(index: 1, width: .qword, comparison: .lessOrEqual, value: 1 << 30))
        #expect(policy["vcpu"]?.defaultAction == .errno(1))
        #expect(policy["api"]?.matchAction == .trace(3))
        #expect(policy["audit"]?.matchAction == .killThread)
        // The whole thing equals the DSL version (positions are not part of equality).
        #expect(policy == vmmPolicyDSL)
    }

    @Test func positionsPointAtTheSyscallNamesAndConditions() throws {
        let policy = try SeccompPolicy(json: vmmPolicyJSON)
        let vmm = try #require(policy["vmm"])
        // Line 7 of the fixture is `{"syscall": "read"},` indented by 12 spaces.
        #expect(vmm.rules[0].sourcePosition == SourcePosition(line: 7, column: 25))
        // The ioctl rule's condition object opens on line 13, column 21.
        #expect(vmm.rules[2].conditions[0].sourcePosition == SourcePosition(line: 13, column: 21))
        // The DSL has no positions.
        #expect(vmmPolicyDSL["vmm"]?.rules[0].sourcePosition == nil)
    }

    @Test func writtenJSONReadsBackEqual() throws {
        let text = vmmPolicyDSL.json()
        #expect(try SeccompPolicy(json: text) == vmmPolicyDSL)
        // Firecracker's key names and layout.
        #expect(text.contains(#""default_action": {"errno": 1}"#))
        #expect(text.contains(#""op": {"masked_eq": 4}"#))
        #expect(text.contains(#""filter_action": {"trace": 3}"#))
        #expect(!text.contains("mismatch_action"))
        // Strings that need escaping survive.
        var tricky = SeccompFilter(default: .allow, match: .errno(EPERM)) {
            Rule("read", comment: "quote \" backslash \\ newline \n tab \t bell \u{07} é 😀")
        }
        tricky.comment = "\u{0}"
        let policy = SeccompPolicy(["weird \"name\"": tricky, "": SeccompFilter(default: .allow, rules: [])])
        #expect(try SeccompPolicy(json: policy.json()) == policy)
    }

    @Test func escapesAndUnicodeAreDecoded() throws {
        let json =
            #"{"vmm": {"comment": "caf\u00e9 \ud83d\ude00 \/ \b\f\n\r\t \"x\" \\", "default_action": "trap", "filter_action": "allow", "filter": []}}"#
        let policy = try SeccompPolicy(json: json)
        #expect(policy["vmm"]?.comment == "café 😀 / \u{08}\u{0C}\n\r\t \"x\" \\")
    }

    @Test func literalsAndNumbersFollowTheJSONGrammar() throws {
        // Valid JSON of the wrong type is a type error, not a syntax error.
        for (value, type) in [
            ("true", SeccompJSONError.ValueType.boolean), ("null", .null), ("-1.5e3", .number), ("1E+2", .number),
            ("[]", .array),
        ] {
            let json = #"{"vmm": {"default_action": "# + value + "}}"
            #expect(
                throws: SeccompJSONError(
                    .wrongType(expected: [.string, .object], found: type), at: SourcePosition(line: 1, column: 28))
            ) {
                _ = try SeccompPolicy(json: json)
            }
        }
        for bad in ["-", "1.", ".5", "1e", "+1", "0x10", "1_000", "--1", "1.2.3"] {
            let json = #"{"vmm": {"default_action": {"errno": "# + bad + "}}}"
            do {
                _ = try SeccompPolicy(json: json)
                Issue.record("\(bad) must not parse")
            } catch {
                #expect(error.position == SourcePosition(line: 1, column: 38), "\(bad): \(error)")
                switch error.kind {
                case .invalidNumber, .unexpectedCharacter: break
                default: Issue.record("\(bad): \(error)")
                }
            }
        }
        // Integers at the edges of UInt64, "-0" and a negative value.
        let edges =
            #"{"v": {"default_action": {"errno": -0}, "filter_action": "allow", "filter": [{"syscall": "read", "args": [{"index": 0, "type": "qword", "op": "eq", "val": 18446744073709551615}]}]}}"#
        let parsed = try SeccompPolicy(json: edges)
        #expect(parsed["v"]?.defaultAction == .errno(0))
        #expect(parsed["v"]?.rules[0].conditions[0].value == UInt64.max)
        let over = edges.replacing("18446744073709551615", with: "18446744073709551616")
        #expect(
            throws: SeccompJSONError(
                .valueOutOfRange("18446744073709551616", allowed: 0...UInt64.max),
                at: SourcePosition(line: 1, column: 156))
        ) {
            _ = try SeccompPolicy(json: over)
        }
        let negative = #"{"v": {"default_action": {"errno": -1}, "filter_action": "allow", "filter": []}}"#
        #expect(
            throws: SeccompJSONError(.valueOutOfRange("-1", allowed: 0...4095), at: SourcePosition(line: 1, column: 36))
        ) {
            _ = try SeccompPolicy(json: negative)
        }
    }

    @Test func actionAndOperatorObjectsTakeExactlyOneMember() {
        let twoActions = #"{"v": {"default_action": {"errno": 1, "trace": 2}, "filter_action": "allow", "filter": []}}"#
        #expect(throws: SeccompJSONError(.unknownKey("trace"), at: SourcePosition(line: 1, column: 39))) {
            _ = try SeccompPolicy(json: twoActions)
        }
        let emptyAction = #"{"v": {"default_action": {}, "filter_action": "allow", "filter": []}}"#
        #expect(throws: SeccompJSONError(.unknownAction("{}"), at: SourcePosition(line: 1, column: 26))) {
            _ = try SeccompPolicy(json: emptyAction)
        }
        let bareErrno = #"{"v": {"default_action": "errno", "filter_action": "allow", "filter": []}}"#
        #expect(throws: SeccompJSONError(.unknownAction("errno"), at: SourcePosition(line: 1, column: 26))) {
            _ = try SeccompPolicy(json: bareErrno)
        }
        let maskPlus =
            #"{"v": {"default_action": "trap", "filter_action": "allow", "filter": [{"syscall": "read", "args": [{"index": 0, "type": "qword", "op": {"masked_eq": 1, "x": 2}, "val": 0}]}]}}"#
        #expect(throws: SeccompJSONError(.unknownKey("x"), at: SourcePosition(line: 1, column: 153))) {
            _ = try SeccompPolicy(json: maskPlus)
        }
        let emptyOperator = maskPlus.replacing(#"{"masked_eq": 1, "x": 2}"#, with: "{}")
        #expect(throws: SeccompJSONError(.unknownOperator("{}"), at: SourcePosition(line: 1, column: 136))) {
            _ = try SeccompPolicy(json: emptyOperator)
        }
    }
}
