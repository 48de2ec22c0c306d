// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting

private struct Sample: Error { var code: UInt8 }
private enum EquatableSample: Error, Equatable { case low, high }

/// The harness checking itself: these run on the host and on riscv64, so a broken
/// Embedded build of the harness shows up as failures, not as silence.
public let allCases: [PortableTestCase] = [
    PortableTestCase("Harness", "passing expectations do not throw") { () throws(TestFailure) in
        try expect(true)
        try expectEqual(UInt64.max, UInt64.max)
        try expectEqual([UInt8(1), 2, 3], [1, 2, 3])
    },
    PortableTestCase("Harness", "a false expectation throws its message and line") { () throws(TestFailure) in
        do throws(TestFailure) {
            try expect(false, "deliberate")
            throw TestFailure("expect(false) did not throw", file: #filePath, line: #line)
        } catch {
            try expect(error.line > 0)
            try expect(error.values == nil)
        }
    },
    PortableTestCase("Harness", "integer mismatch keeps both values") { () throws(TestFailure) in
        do throws(TestFailure) {
            try expectEqual(Int32(-5), Int32(7))
            throw TestFailure("mismatch did not throw", file: #filePath, line: #line)
        } catch {
            try expectEqual(error.values?.actual ?? 0, -5)
            try expectEqual(error.values?.expected ?? 0, 7)
        }
    },
    PortableTestCase("Harness", "expectThrows matches the error") { () throws(TestFailure) in
        try expectThrows(Sample.self, matching: { $0.code == 4 }) { () throws(Sample) in throw Sample(code: 4) }
        do throws(TestFailure) {
            try expectThrows(Sample.self) { () throws(Sample) in }
            throw TestFailure("no error was accepted", file: #filePath, line: #line)
        } catch {
            try expect(error.line > 0)
        }
    },
    PortableTestCase("Harness", "expectNoError returns the value or fails at the caller") { () throws(TestFailure) in
        try expectEqual(try expectNoError { () throws(Sample) -> UInt8 in 9 }, 9)
        do throws(TestFailure) {
            _ = try expectNoError("refused") { () throws(Sample) -> UInt8 in throw Sample(code: 1) }
            throw TestFailure("an error was not reported", file: #filePath, line: #line)
        } catch {
            try expect(error.line > 0)
            try expect(error.values == nil)
        }
    },
    PortableTestCase("Harness", "expectError needs exactly the expected error") { () throws(TestFailure) in
        try expectError(EquatableSample.low) { () throws(EquatableSample) in throw .low }
        var failures = 0
        do throws(TestFailure) {
            try expectError(EquatableSample.low) { () throws(EquatableSample) in throw .high }
        } catch {
            failures += 1
        }
        do throws(TestFailure) { try expectError(EquatableSample.low) { () throws(EquatableSample) in } } catch {
            failures += 1
        }
        try expectEqual(failures, 2, "a different error and no error both fail")
    },
    PortableTestCase("Harness", "SplitMix64 replays its sequence from a seed") { () throws(TestFailure) in
        var first = SplitMix64(seed: 7)
        var second = SplitMix64(seed: 7)
        var other = SplitMix64(seed: 8)
        let a = (first.next(), first.next())
        try expectEqual(a.0, second.next())
        try expectEqual(a.1, second.next())
        try expect(a.0 != other.next(), "different seeds give different sequences")
        try expect(UInt64.random(in: 10...20, using: &first) <= 20)
    },
    PortableTestCase("Harness", "wrapping and overflow-checked arithmetic agree") { () throws(TestFailure) in
        let (sum, overflow) = UInt64.max.addingReportingOverflow(2)
        try expect(overflow)
        try expectEqual(sum, 1)
        try expectEqual(UInt32(0xFFFF_FFFF) &+ 1, 0)
    },
]
