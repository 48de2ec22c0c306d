// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting

private struct Sample: Error { var code: UInt8 }

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
    PortableTestCase("Harness", "wrapping and overflow-checked arithmetic agree") { () throws(TestFailure) in
        let (sum, overflow) = UInt64.max.addingReportingOverflow(2)
        try expect(overflow)
        try expectEqual(sum, 1)
        try expectEqual(UInt32(0xFFFF_FFFF) &+ 1, 0)
    },
]
