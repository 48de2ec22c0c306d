// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import Seccompiler
import Testing

/// Seeded random policies and hostile mutations of their JSON: the parser must answer every
/// input with a policy or a typed error pointing inside the input, and never crash or hang.
@Suite struct FuzzTests {
    private static let syscalls = [
        "read", "write", "ioctl", "mmap", "munmap", "futex", "close", "openat", "epoll_pwait", "accept4",
        "getpid", "exit_group", "rt_sigreturn", "madvise", "recvfrom", "sendmsg",
    ]

    @Test func generatedPoliciesSurviveAJSONRoundTrip() throws {
        var random = SplitMix64(seed: 0x5ECC_0391)
        for round in 0..<150 {
            let policy = randomPolicy(&random)
            let text = policy.json()
            let parsed = try SeccompPolicy(json: text)
            #expect(parsed == policy, "seed round \(round)")
            // Every few rounds, both must also compile to the same program.
            if round % 10 == 0 {
                #expect(try parsed.compile() == policy.compile(), "seed round \(round)")
            }
        }
    }

    @Test func mutatedJSONGivesTypedLocatedErrorsOnly() throws {
        var random = SplitMix64(seed: 0xBAD_5EED)
        var failures = 0
        var successes = 0
        for _ in 0..<150 {
            let original = Array(randomPolicy(&random).json().utf8)
            for _ in 0..<25 {
                let mutant = mutate(original, &random)
                do {
                    let policy = try SeccompPolicy(jsonBytes: mutant)
                    successes += 1
                    // What parses must compile or fail with a typed compile error.
                    do {
                        _ = try policy.compile()
                    } catch {
                        if case .export = error.kind { Issue.record("export failed: \(error)") }
                    }
                } catch {
                    failures += 1
                    let lines = lineLengths(mutant)
                    let position = error.position
                    let inside =
                        position.line >= 1 && position.line <= lines.count && position.column >= 1
                        && position.column <= lines[position.line - 1] + 1
                    #expect(inside, "\(error) lies outside the input (\(lines.count) lines)")
                }
            }
        }
        // The mutations must exercise both paths.
        #expect(failures > 1000)
        #expect(successes > 0)
    }

    @Test func randomBytesNeverCrashTheParser() {
        var random = SplitMix64(seed: 42)
        let alphabet = Array(#"{}[]:,"\ -0123456789.eE+tfnrua/"#.utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xE2, 0xF0, 0xFF]
        for _ in 0..<3000 {
            let count = Int.random(in: 0...64, using: &random)
            let bytes = (0..<count).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &random)] }
            do {
                _ = try SeccompPolicy(jsonBytes: bytes)
            } catch {
                #expect(error.position.line >= 1 && error.position.column >= 1)
            }
        }
    }

    @Test func randomProgramBytesAreAcceptedOrRejectedByLength() {
        var random = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let count = Int.random(in: 0...200, using: &random)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            do {
                let program = try BPFProgram(bytes: bytes)
                #expect(program.bytes == bytes)
            } catch {
                #expect(error == (count == 0 ? .empty : .partialInstruction(byteCount: count)))
            }
        }
    }

    // MARK: generators

    private func randomPolicy(_ random: inout SplitMix64) -> SeccompPolicy {
        var filters: [String: SeccompFilter] = [:]
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let defaultAction = randomAction(&random)
            var matchAction = randomAction(&random)
            if matchAction == defaultAction { matchAction = defaultAction == .allow ? .trap : .allow }
            var rules: [Rule] = []
            for _ in 0..<Int.random(in: 0...8, using: &random) {
                let name = Self.syscalls[Int.random(in: 0..<Self.syscalls.count, using: &random)]
                var indices = Array(0...5)
                var conditions: [ArgumentCondition] = []
                for _ in 0..<Int.random(in: 0...3, using: &random) {
                    let index = indices.remove(at: Int.random(in: 0..<indices.count, using: &random))
                    conditions.append(randomCondition(index: index, &random))
                }
                let comment = Bool.random(using: &random) ? randomText(&random) : nil
                rules.append(Rule(name, conditions: conditions, comment: comment))
            }
            var filter = SeccompFilter(default: defaultAction, match: matchAction, rules: rules)
            filter.comment = Bool.random(using: &random) ? randomText(&random) : nil
            filters[randomText(&random)] = filter
        }
        return SeccompPolicy(filters)
    }

    private func randomAction(_ random: inout SplitMix64) -> SeccompAction {
        switch Int.random(in: 0..<7, using: &random) {
        case 0: return .allow
        case 1: return .errno(Int32.random(in: 0...SeccompAction.maximumErrno, using: &random))
        case 2: return .killThread
        case 3: return .killProcess
        case 4: return .trap
        case 5: return .log
        default: return .trace(UInt16.random(in: 0...UInt16.max, using: &random))
        }
    }

    private func randomCondition(index: Int, _ random: inout SplitMix64) -> ArgumentCondition {
        let width: ArgumentWidth = Bool.random(using: &random) ? .dword : .qword
        let limit = width == .dword ? UInt64(UInt32.max) : UInt64.max
        let comparisons: [Comparison] = [
            .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual,
            .maskedEqual(UInt64.random(in: 0...limit, using: &random)),
        ]
        return ArgumentCondition(
            index: index, width: width, comparison: comparisons[Int.random(in: 0..<comparisons.count, using: &random)],
            value: UInt64.random(in: 0...limit, using: &random),
            comment: Bool.random(using: &random) ? randomText(&random) : nil)
    }

    /// Names and comments with characters that need escaping and multi-byte UTF-8.
    private func randomText(_ random: inout SplitMix64) -> String {
        let pieces = ["vmm", "api", "vcpu", "\"", "\\", "\n", "\t", "é", "😀", "/", "\u{1}", " ", "x", "ß"]
        var text = ""
        for _ in 0..<Int.random(in: 0...6, using: &random) {
            text += pieces[Int.random(in: 0..<pieces.count, using: &random)]
        }
        return text
    }

    /// One of several corruptions: truncation, deletion, insertion of JSON punctuation or raw
    /// bytes, byte replacement, or a duplicated slice.
    private func mutate(_ input: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var bytes = input
        let punctuation = Array(#"{}[]:,"\0-9eE.+tfn "#.utf8) + [0x00, 0x0A, 0x7F, 0x80, 0xC0, 0xED, 0xF5, 0xFF]
        let position = Int.random(in: 0...bytes.count, using: &random)
        switch Int.random(in: 0..<5, using: &random) {
        case 0:
            bytes.removeSubrange(position...)
        case 1:
            let end = min(bytes.count, position + Int.random(in: 1...16, using: &random))
            bytes.removeSubrange(position..<end)
        case 2:
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                bytes.insert(punctuation[Int.random(in: 0..<punctuation.count, using: &random)], at: position)
            }
        case 3:
            if position < bytes.count { bytes[position] = UInt8.random(in: 0...255, using: &random) }
        default:
            let end = min(bytes.count, position + Int.random(in: 1...40, using: &random))
            bytes.insert(contentsOf: bytes[position..<end], at: position)
        }
        return bytes
    }

    /// Each line's length in columns, counted as the parser counts them (one per scalar's lead byte).
    private func lineLengths(_ bytes: [UInt8]) -> [Int] {
        var lengths = [0]
        for byte in bytes {
            if byte == 0x0A {
                lengths.append(0)
            } else if byte & 0xC0 != 0x80 {
                lengths[lengths.count - 1] += 1
            }
        }
        return lengths
    }
}
