// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// The outcome of one CI step.
public struct StepOutcome: Sendable {
    /// Step name as shown in the table.
    public var name: String
    /// True when the step passed.
    public var passed: Bool
    /// Wall time in seconds.
    public var seconds: Double
    /// One line of detail (counts, the first failure).
    public var detail: String
    /// Test cases the step ran, when it runs tests.
    public var tests: TestSummary?

    /// Creates an outcome.
    public init(name: String, passed: Bool, seconds: Double, detail: String, tests: TestSummary? = nil) {
        self.name = name
        self.passed = passed
        self.seconds = seconds
        self.detail = detail
        self.tests = tests
    }
}

/// A named step of `vmm-tools ci`.
public struct CIStep {
    /// Name shown in the table and accepted by `--only` / `--skip`.
    public var name: String
    /// What the step does, for `--list`.
    public var summary: String
    /// Runs the step.
    public var run: () throws -> StepOutcome

    /// Creates a step.
    public init(name: String, summary: String, run: @escaping () throws -> StepOutcome) {
        self.name = name
        self.summary = summary
        self.run = run
    }
}

/// Runs CI steps in order and prints the table and the closing `N passed, M failed` line.
public enum CIRunner {
    /// Runs every step (a step that throws counts as failed), then prints the
    /// summary to `print`. Returns the outcomes.
    public static func run(_ steps: [CIStep], print emit: (String) -> Void) -> [StepOutcome] {
        var outcomes: [StepOutcome] = []
        for step in steps {
            emit("==> ci step: \(step.name) — \(step.summary)")
            let start = Date()
            var outcome: StepOutcome
            do {
                outcome = try step.run()
            } catch {
                outcome = StepOutcome(
                    name: step.name, passed: false, seconds: Date().timeIntervalSince(start), detail: "\(error)")
            }
            outcome.name = step.name
            outcome.seconds = Date().timeIntervalSince(start)
            emit("==> ci step: \(step.name) \(outcome.passed ? "passed" : "FAILED") (\(outcome.detail))")
            outcomes.append(outcome)
        }
        for line in summaryLines(outcomes) { emit(line) }
        return outcomes
    }

    /// The per-step table followed by the closing line.
    ///
    /// The closing line counts checks: every test case run by a test step, plus
    /// one for each step that runs no tests (lint, build, ...). A test step that
    /// failed without reporting a failing test case counts as one failure.
    public static func summaryLines(_ outcomes: [StepOutcome]) -> [String] {
        let width = max(8, outcomes.map(\.name.count).max() ?? 0)
        var lines = ["", "step".padding(toLength: width, withPad: " ", startingAt: 0) + "  result  time     detail"]
        var passed = 0
        var failed = 0
        for outcome in outcomes {
            let time = String(format: "%6.1fs", outcome.seconds)
            let result = outcome.passed ? "pass  " : "FAIL  "
            lines.append(
                outcome.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(result)  \(time)  "
                    + outcome.detail)
            if let tests = outcome.tests {
                passed += tests.passed
                failed += tests.failed
                if !outcome.passed && tests.failed == 0 { failed += 1 }
            } else if outcome.passed {
                passed += 1
            } else {
                failed += 1
            }
        }
        lines.append("\(passed) passed, \(failed) failed")
        return lines
    }
}
