// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Test counts read from `swift test` output (XCTest and Swift Testing together).
public struct TestSummary: Sendable, Equatable {
    /// Test cases that passed.
    public var passed: Int
    /// Test cases that failed.
    public var failed: Int
    /// Total executed.
    public var total: Int { passed + failed }

    /// Creates a summary.
    public init(passed: Int, failed: Int) {
        self.passed = passed
        self.failed = failed
    }

    /// Adds two summaries.
    public static func + (lhs: TestSummary, rhs: TestSummary) -> TestSummary {
        TestSummary(passed: lhs.passed + rhs.passed, failed: lhs.failed + rhs.failed)
    }

    /// Parses `swift test` output.
    ///
    /// XCTest: the last `Executed N tests, with M failures` line (the all-tests total).
    /// Swift Testing: `Test run with N tests ...`, with failures counted from the
    /// per-test `✘ Test <name> failed` lines. Returns nil when neither appears
    /// (the test binary did not run).
    public static func parse(_ output: String) -> TestSummary? {
        var xcTotal: Int?
        var xcFailures = 0
        var testingTotal: Int?
        var testingFailures = 0
        for rawLine in output.split(separator: "\n") {
            let line = rawLine.trimmingPrefixWhitespace()
            if line.hasPrefix("Executed "), let numbers = Self.integers(in: line), numbers.count >= 2 {
                // Nested suites each print a line; the all-tests line has the largest count.
                if numbers[0] >= (xcTotal ?? 0) {
                    xcTotal = numbers[0]
                    xcFailures = numbers[1]
                }
            } else if let range = line.range(of: "Test run with "),
                let numbers = Self.integers(in: line[range.upperBound...]),
                let first = numbers.first
            {
                // Swift Testing may print an empty run first (from the XCTest pass); keep the largest.
                testingTotal = max(testingTotal ?? 0, first)
            } else if line.hasPrefix("✘ Test ") && !line.hasPrefix("✘ Test run") && line.contains(" failed after ") {
                testingFailures += 1
            }
        }
        if xcTotal == nil && testingTotal == nil { return nil }
        let total = (xcTotal ?? 0) + (testingTotal ?? 0)
        let failed = xcFailures + testingFailures
        return TestSummary(passed: max(0, total - failed), failed: failed)
    }

    private static func integers(in text: Substring) -> [Int]? {
        var numbers: [Int] = []
        var current = ""
        for character in text {
            if character.isASCII && character.isNumber {
                current.append(character)
            } else if !current.isEmpty {
                numbers.append(Int(current)!)
                current = ""
            }
        }
        if !current.isEmpty { numbers.append(Int(current)!) }
        return numbers.isEmpty ? nil : numbers
    }
}

extension Substring {
    fileprivate func trimmingPrefixWhitespace() -> Substring { drop { $0 == " " || $0 == "\t" } }
}
