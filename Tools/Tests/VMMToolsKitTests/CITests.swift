// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

@Suite struct TestSummaryTests {
    @Test func readsXCTestAndSwiftTestingTogether() {
        let output = """
            Test Suite 'All tests' started at 2026-11-21 07:00:00.000
            \t Executed 3 tests, with 0 failures (0 unexpected) in 0.1 (0.1) seconds
            Test Suite 'All tests' passed at 2026-11-21 07:00:00.100
            \t Executed 12 tests, with 1 failure (0 unexpected) in 0.2 (0.2) seconds
            ✔ Test a() passed after 0.001 seconds.
            ✘ Test b() recorded an issue at X.swift:3:5: Expectation failed
            ✘ Test b() failed after 0.002 seconds with 1 issue.
            ✘ Test run with 10 tests in 2 suites failed after 0.003 seconds with 1 issue.
            """
        #expect(TestSummary.parse(output) == TestSummary(passed: 20, failed: 2))
    }

    @Test func noSummaryMeansNoTestsRan() {
        #expect(TestSummary.parse("error: compile failed\n") == nil)
        #expect(
            TestSummary.parse("✔ Test run with 0 tests in 0 suites passed after 0.001 seconds.")
                == TestSummary(passed: 0, failed: 0))
    }

    @Test func summaryCountsTestCasesAndSteps() {
        let lines = CIRunner.summaryLines([
            StepOutcome(name: "lint", passed: true, seconds: 1, detail: "no findings"),
            StepOutcome(name: "test", passed: true, seconds: 2, detail: "", tests: TestSummary(passed: 40, failed: 0)),
            StepOutcome(name: "build", passed: false, seconds: 3, detail: "exit 1"),
        ])
        #expect(lines.last == "41 passed, 1 failed")
        #expect(lines.contains { $0.hasPrefix("build") && $0.contains("FAIL") })
    }

    @Test func failingTestStepWithoutCountedFailureStillFails() {
        let lines = CIRunner.summaryLines([
            StepOutcome(name: "test", passed: false, seconds: 1, detail: "", tests: TestSummary(passed: 5, failed: 0))
        ])
        #expect(lines.last == "5 passed, 1 failed")
    }

    @Test func runnerTurnsThrowingStepIntoFailure() {
        struct Boom: Error {}
        var printed: [String] = []
        let outcomes = CIRunner.run(
            [
                CIStep(name: "ok", summary: "passes") {
                    StepOutcome(name: "", passed: true, seconds: 0, detail: "fine")
                },
                CIStep(name: "boom", summary: "throws") { throw Boom() },
            ], print: { printed.append($0) })
        #expect(outcomes.map(\.passed) == [true, false])
        #expect(printed.last == "1 passed, 1 failed")
    }

    @Test func testStepFailsWhenNoTestRuns() throws {
        let fixture = try FixtureWorkspace(packages: ["A": []])
        try fixture.write(
            "Packages/A/Tests/ATests/ATests.swift", "\(FixtureWorkspace.header)\nimport Testing\n")
        let outcome = try Pipeline.testStep(
            name: "A",
            arguments: ["swift", "test", "--package-path", fixture.root.appendingPathComponent("Packages/A").path],
            in: fixture.root)
        #expect(!outcome.passed)
        #expect(outcome.detail.contains("no test"))
    }
}
