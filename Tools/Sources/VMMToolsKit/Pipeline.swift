// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// The steps `vmm-tools ci` runs, in order. Later issues append steps here
/// (coverage gate, riscv64, integration boots, release dry run).
public enum Pipeline {
    /// All CI steps for `workspace`. `emit` receives progress lines.
    public static func steps(for workspace: Workspace, emit: @escaping (String) -> Void) -> [CIStep] {
        [
            CIStep(name: "lint", summary: "swift-format, headers, manifests, changelogs, docs graph") {
                let findings = try Linter(workspace: workspace).run()
                for finding in findings { emit(finding.description) }
                return StepOutcome(
                    name: "lint", passed: findings.isEmpty, seconds: 0,
                    detail: findings.isEmpty ? "no findings" : "\(findings.count) findings")
            },
            CIStep(name: "build", summary: "swift build --build-tests (whole workspace, one graph)") {
                let result = try ProcessRunner.run(["swift", "build", "--build-tests"], in: workspace.root, echo: true)
                return StepOutcome(
                    name: "build", passed: result.succeeded, seconds: 0,
                    detail: result.succeeded ? "ok" : "exit \(result.status)")
            },
            CIStep(name: "test", summary: "swift test --enable-code-coverage (every package, Tools, IntegrationVMM)") {
                try testStep(name: "test", arguments: ["swift", "test", "--enable-code-coverage"], in: workspace.root)
            },
            CIStep(name: "coverage", summary: "per-package coverage gate (ci profile) against coverage/<arch>.json") {
                let report = try CoverageRun(workspace: workspace, profile: .ci, runTests: false).execute()
                for line in report.lines { emit(line) }
                return StepOutcome(name: "coverage", passed: report.passed, seconds: 0, detail: report.verdictLine)
            },
            CIStep(name: "riscv64", summary: "portable packages' cases on riscv64 (Embedded Swift under qemu)") {
                let report = try RiscV64Run(workspace: workspace).execute()
                for line in report.lines { emit(line) }
                return StepOutcome(
                    name: "riscv64", passed: report.succeeded, seconds: 0,
                    detail: "\(report.passed) passed, \(report.failed) failed on riscv64",
                    tests: TestSummary(passed: report.passed, failed: report.failed))
            },
            CIStep(name: "standalone", summary: "each package builds and tests on its own (the released unit)") {
                let order = try DependencyGraph.load(workspace).topologicalOrder()
                var failures: [String] = []
                var tests = TestSummary(passed: 0, failed: 0)
                for package in order {
                    emit("==> standalone: \(package)")
                    let outcome = try testStep(
                        name: package,
                        arguments: ["swift", "test", "--package-path", workspace.packageDirectory(package).path],
                        in: workspace.root)
                    if !outcome.passed { failures.append(package) }
                    if let counted = outcome.tests { tests = tests + counted }
                }
                let detail =
                    failures.isEmpty
                    ? "\(order.count) packages, \(tests.total) tests"
                    : "failed: \(failures.joined(separator: ", "))"
                return StepOutcome(name: "standalone", passed: failures.isEmpty, seconds: 0, detail: detail)
            },
        ]
    }

    /// Runs a `swift test` command line and reads its counts. A run that exits 0
    /// but executed no test at all fails: a silent test binary hides breakage.
    public static func testStep(name: String, arguments: [String], in directory: URL) throws -> StepOutcome {
        let result = try ProcessRunner.run(arguments, in: directory, echo: true)
        guard let summary = TestSummary.parse(result.output) else {
            return StepOutcome(
                name: name, passed: false, seconds: 0, detail: "no test summary in output (exit \(result.status))")
        }
        let passed = result.succeeded && summary.failed == 0 && summary.total > 0
        var detail = "\(summary.passed) passed, \(summary.failed) failed"
        if summary.total == 0 { detail += " (no tests ran)" }
        if !result.succeeded && summary.failed == 0 { detail += " (exit \(result.status))" }
        return StepOutcome(name: name, passed: passed, seconds: 0, detail: detail, tests: summary)
    }
}
