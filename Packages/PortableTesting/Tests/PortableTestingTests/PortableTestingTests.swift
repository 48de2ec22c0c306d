// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import PortableTestingPortableTests
import Testing

@Suite struct PortableTestingTests {
    @Test func passingExpectationsDoNotThrow() throws {
        try expect(true)
        try expectEqual(3, 3)
        try expectEqual([1, 2], [1, 2])
    }

    @Test func integerMismatchRecordsBothValues() {
        do {
            try expectEqual(UInt8(7), UInt8(9), "seven is not nine")
            Issue.record("no failure")
        } catch {
            #expect(error.values?.actual == 7)
            #expect(error.values?.expected == 9)
            #expect(error.description.hasSuffix(": seven is not nine (actual 7, expected 9)"))
        }
    }

    @Test func expectThrowsNeedsAnError() {
        struct Boom: Error { var code: Int }
        #expect(throws: TestFailure.self) {
            try expectThrows(Boom.self) { () throws(Boom) in }
        }
        #expect(throws: Never.self) {
            try expectThrows(Boom.self, matching: { $0.code == 2 }) { () throws(Boom) in throw Boom(code: 2) }
        }
        #expect(throws: TestFailure.self) {
            try expectThrows(Boom.self, matching: { $0.code == 2 }) { () throws(Boom) in throw Boom(code: 3) }
        }
    }

    @Test func runnerCountsFailures() {
        let cases = [
            PortableTestCase("S", "ok") { () throws(TestFailure) in try expect(true) },
            PortableTestCase("S", "bad") { () throws(TestFailure) in try expect(false, "nope") },
            PortableTestCase("T", "ok") { () throws(TestFailure) in },
        ]
        #expect(PortableTestRunner.run(cases) == 1)
    }
}

extension PortableTestCase: CustomTestStringConvertible {
    /// `Suite: case name`, as Swift Testing shows each argument.
    public var testDescription: String { "\(suite): \(name)" }
}

@Test(arguments: PortableTestingPortableTests.allCases)
func portable(_ testCase: PortableTestCase) throws { try testCase.run() }
