// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Seccompiler
import Testing

/// One malformed filter file and the exact error it must produce. The expected positions were
/// computed apart from the parser (by counting code points up to a marker in each input), not
/// read back from it.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    let note: String
    let json: String
    let kind: SeccompJSONError.Kind
    let line: Int
    let column: Int

    init(_ note: String, _ json: String, _ kind: SeccompJSONError.Kind, _ line: Int, _ column: Int) {
        self.note = note
        self.json = json
        self.kind = kind
        self.line = line
        self.column = column
    }

    var testDescription: String { note }
}

private typealias Case = MalformedCase

@Suite struct JSONErrorTests {
    static let cases: [MalformedCase] = [
        Case(
            "a misspelt system call name, at its string",
            #"{\#n    "vmm": {\#n        "default_action": "trap",\#n        "filter_action": "allow",\#n        "filter": [\#n            {"syscall": "read"},\#n            {"syscall": "reed"}\#n        ]\#n    }\#n}\#n"#,
            .unknownSyscall("reed"), 7, 25),
        Case(
            "an operator the format does not define",
            #"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [\#n  {"syscall": "ioctl", "args": [\#n    {"index": 1, "type": "dword", "op": "equals", "val": 44672}\#n  ]}\#n]}}"#,
            .unknownOperator("equals"), 3, 41),
        Case(
            "a rule without a name, at the rule's brace",
            #"{"vmm": {\#n  "default_action": "trap",\#n  "filter_action": "allow",\#n  "filter": [\#n    {"syscall": "read"},\#n    {"comment": "no name"}\#n  ]\#n}}"#,
            .missingKey("syscall"), 6, 5),
        Case(
            "two members without a comma between them",
            #"{\#n  "vmm": {\#n    "default_action": "trap"\#n    "filter_action": "allow",\#n    "filter": []\#n  }\#n}"#,
            .unexpectedCharacter("'\"'", expected: "',' or '}'"), 4, 5),
        Case(
            "input that stops inside an object",
            #"{"vmm": {"default_action": "trap", "filter_action": "allow","#,
            .unexpectedEndOfInput, 1, 61),
        Case(
            "a misspelt key (after a tab, which is one column)",
            #"{"vcpu": {"default_action": "trap", "filter_action": "allow", "filter": [\#n\#t{"syscall": "ioctl", "arsg": []}\#n]}}"#,
            .unknownKey("arsg"), 2, 23),
        Case(
            "a dword value above 32 bits, even before the type is known",
            #"{"vcpu": {"default_action": "trap", "filter_action": "allow", "filter": [\#n  {"syscall": "ioctl", "args": [{"val": 4294967296, "index": 1, "type": "dword", "op": "eq"}]}\#n]}}"#,
            .valueOutOfRange("4294967296", allowed: 0...4_294_967_295), 2, 41),
        Case(
            "columns count characters, not UTF-8 bytes",
            #"{"vmm": {"comment": "caf\#u{e9} \#u{1f600} \#u{fc}", "default_action": "trapp", "filter_action": "allow", "filter": []}}"#,
            .unknownAction("trapp"), 1, 51),
        Case(
            "a trailing comma in an array",
            #"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [\#n    {"syscall": "read"},\#n]}}"#,
            .unexpectedCharacter("']'", expected: "a value"), 3, 1),
        Case(
            "errno above MAX_ERRNO",
            #"{"vmm": {\#n  "default_action": {"errno": 4096},\#n  "filter_action": "allow", "filter": []}}"#,
            .valueOutOfRange("4096", allowed: 0...4095), 2, 31),
        Case(
            "an object where the rule list belongs",
            #"{"vmm": {\#n  "default_action": "trap",\#n  "filter_action": "allow",\#n  "filter": {"syscall": "read"}\#n}}"#,
            .wrongType(expected: [.array], found: .object), 4, 13),
        Case(
            "the same filter name twice",
            #"{\#n  "vmm": {"default_action": "trap", "filter_action": "allow", "filter": []},\#n  "vmm": {"default_action": "trap", "filter_action": "allow", "filter": []}\#n}"#,
            .duplicateKey("vmm"), 3, 3),
        Case(
            "a filter without filter_action, at its brace",
            #"{\#n  "api": {\#n    "default_action": "trap",\#n    "filter": []\#n  }\#n}"#,
            .missingKey("filter_action"), 2, 10),
        Case(
            "argument index 6",
            #"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [\#n  {"syscall": "read", "args": [{"index": 6, "type": "qword", "op": "eq", "val": 0}]}]}}"#,
            .valueOutOfRange("6", allowed: 0...5), 2, 42),
        Case(
            "one argument tested twice, through the arg_index alias",
            #"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [{"syscall": "read", "args": [\#n  {"index": 0, "type": "qword", "op": "eq", "val": 0},\#n  {"type": "qword", "arg_index": 0, "op": "ne", "val": 1}\#n]}]}}"#,
            .duplicateArgumentIndex(0), 3, 34),
        Case(
            "a key and its alias in one object",
            #"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [{"syscall": "read", "args": [\#n  {"index": 0, "type": "qword", "op": "eq", "val": 0, "arg_index": 0}\#n]}]}}"#,
            .duplicateKey("arg_index"), 2, 55),
        Case(
            "an argument type other than dword or qword",
            #"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [{"syscall": "read", "args": [\#n  {"index": 0, "type": "word", "op": "eq", "val": 0}\#n]}]}}"#,
            .unknownArgumentType("word"), 2, 24),
        Case(
            "a fraction where an integer belongs",
            #"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [{"syscall": "read", "args": [\#n  {"index": 0, "type": "qword", "op": "eq", "val": 1.5}\#n]}]}}"#,
            .wrongType(expected: [.integer], found: .number), 2, 52),
        Case(
            "a number with a leading zero",
            #"{"vmm": {"default_action": {"errno": 01}, "filter_action": "allow", "filter": []}}"#,
            .invalidNumber("01"), 1, 38),
        Case(
            "an escape JSON does not define",
            #"{"vmm": {"comment": "tab\x", "default_action": "trap", "filter_action": "allow", "filter": []}}"#,
            .invalidEscape(#"\x"#), 1, 25),
        Case(
            "a raw tab inside a string",
            #"{"vmm": {"comment": "a\#tb", "default_action": "trap", "filter_action": "allow", "filter": []}}"#,
            .controlCharacterInString, 1, 23),
        Case(
            "a NUL that would truncate the name in C",
            #"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [{"syscall": "read\u0000x"}]}}"#,
            .unknownSyscall("read\u{0}x"), 1, 85),
        Case(
            "text after the top-level value",
            #"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": []}}\#n}"#,
            .trailingContent, 2, 1),
        Case(
            "a top level that is not an object",
            #"\#n\#n   ["vmm"]"#,
            .wrongType(expected: [.object], found: .array), 3, 4),
        Case(
            "an action object with an unknown name",
            #"{"vmm": {"default_action": {"errno": 1}, "filter_action": {"kill": 1}, "filter": []}}"#,
            .unknownAction("kill"), 1, 60),
        Case(
            "a truncated literal",
            #"{"vmm": {"default_action": tru, "filter_action": "allow", "filter": []}}"#,
            .invalidLiteral("tru"), 1, 28),
        Case(
            "a high surrogate without its low half",
            #"{"vmm": {"comment": "x\ud83dy", "default_action": "trap", "filter_action": "allow", "filter": []}}"#,
            .invalidEscape(#"\uD83D"#), 1, 23),
        Case(
            "a string that never ends",
            #"{"vmm": {"comment": "never closed"#,
            .unterminatedString, 1, 21),
        Case(
            "a dword mask above 32 bits",
            #"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [{"syscall": "mmap", "args": [\#n  {"index": 2, "type": "dword", "op": {"masked_eq": 4294967296}, "val": 0}\#n]}]}}"#,
            .valueOutOfRange("4294967296", allowed: 0...4_294_967_295), 2, 53),
    ]

    @Test(arguments: cases)
    func malformedFiltersGiveLocatedErrors(_ malformed: MalformedCase) {
        #expect(
            throws: SeccompJSONError(malformed.kind, at: SourcePosition(line: malformed.line, column: malformed.column))
        ) {
            _ = try SeccompPolicy(json: malformed.json, architecture: .x86_64)
        }
    }

    @Test func bytesThatAreNotUTF8AreLocated() {
        let prefix = Array(#"{"vmm": {"comment": "ab"#.utf8)
        let inString =
            prefix + [0xFF] + Array(#"", "default_action": "trap", "filter_action": "allow", "filter": []}}"#.utf8)
        #expect(throws: SeccompJSONError(.invalidUTF8, at: SourcePosition(line: 1, column: 24))) {
            _ = try SeccompPolicy(jsonBytes: inString)
        }
        // An overlong encoding of "/" (C0 AF) and a UTF-16 surrogate encoded in UTF-8 (ED A0 80).
        for bad: [UInt8] in [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            #expect(throws: SeccompJSONError(.invalidUTF8, at: SourcePosition(line: 1, column: 24))) {
                _ = try SeccompPolicy(jsonBytes: prefix + bad + Array("\"}}".utf8))
            }
        }
        let outside: [UInt8] = [0x0A, 0x20, 0xC3, 0x28]
        #expect(
            throws: SeccompJSONError(
                .unexpectedCharacter("byte 0xC3", expected: "a value"), at: SourcePosition(line: 2, column: 2))
        ) {
            _ = try SeccompPolicy(jsonBytes: outside)
        }
    }

    @Test func deepNestingStopsAtTheLimitInsteadOfOverflowingTheStack() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: SeccompJSONError(.nestingTooDeep(limit: 64), at: SourcePosition(line: 1, column: 65))) {
            _ = try SeccompPolicy(json: deep)
        }
        let objects = String(repeating: #"{"a":"#, count: 70)
        // The 65th object opens at column 5 * 64 + 1.
        #expect(throws: SeccompJSONError(.nestingTooDeep(limit: 64), at: SourcePosition(line: 1, column: 321))) {
            _ = try SeccompPolicy(json: objects)
        }
    }

    @Test func aByteOrderMarkTakesNoColumn() {
        let text = Array([0xEF, 0xBB, 0xBF]) + Array(#"{"vmm": 1}"#.utf8)
        #expect(
            throws: SeccompJSONError(
                .wrongType(expected: [.object], found: .integer), at: SourcePosition(line: 1, column: 9))
        ) {
            _ = try SeccompPolicy(jsonBytes: text)
        }
    }

    @Test func emptyAndBlankInputsEndUnexpectedly() {
        #expect(throws: SeccompJSONError(.unexpectedEndOfInput, at: SourcePosition(line: 1, column: 1))) {
            _ = try SeccompPolicy(json: "")
        }
        #expect(throws: SeccompJSONError(.unexpectedEndOfInput, at: SourcePosition(line: 3, column: 3))) {
            _ = try SeccompPolicy(json: "\n\n  ")
        }
    }

    @Test func namesAreCheckedForTheRequestedArchitecture() {
        // open(2) exists on x86_64 but not on aarch64, which only has openat.
        let json = #"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": [{"syscall": "open"}]}}"#
        #expect(throws: Never.self) { _ = try SeccompPolicy(json: json, architecture: .x86_64) }
        #expect(throws: SeccompJSONError(.unknownSyscall("open"), at: SourcePosition(line: 1, column: 85))) {
            _ = try SeccompPolicy(json: json, architecture: .aarch64)
        }
    }

    @Test func errorsPrintTheirPositionFirst() throws {
        let error = SeccompJSONError(.unknownSyscall("reed"), at: SourcePosition(line: 7, column: 25))
        #expect(error.description == #"7:25: unknown system call "reed""#)
        let hostile = String(repeating: "x", count: 10_000)
        do {
            _ = try SeccompPolicy(json: #"{"vmm": {"default_action": ""# + hostile + #""}}"#)
            Issue.record("an unknown action must fail")
        } catch {
            // Quoted input is clipped, so a hostile file cannot make the message huge.
            guard case .unknownAction(let shown) = error.kind else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(shown.count == 65 && shown.hasSuffix("…"))
        }
    }
}
