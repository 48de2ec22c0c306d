// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// One `vmm-tools coverage` invocation: measure, compare, maybe rewrite, report.
public struct CoverageRun {
    /// The workspace measured.
    public var workspace: Workspace
    /// ci or devel.
    public var profile: CoverageProfile
    /// Run `swift test --enable-code-coverage` first (false: reuse the last run).
    public var runTests: Bool
    /// Gate changed lines since this revision, if set.
    public var changedSince: String?
    /// Write an HTML report.
    public var html: Bool
    /// The thresholds file (default `coverage/<arch>.json`).
    public var thresholdsFile: URL?
    /// Echo test output while running.
    public var echo: Bool

    /// Creates a run.
    public init(
        workspace: Workspace, profile: CoverageProfile, runTests: Bool = true, changedSince: String? = nil,
        html: Bool = false, thresholdsFile: URL? = nil, echo: Bool = false
    ) {
        self.workspace = workspace
        self.profile = profile
        self.runTests = runTests
        self.changedSince = changedSince
        self.html = html
        self.thresholdsFile = thresholdsFile
        self.echo = echo
    }

    /// What a run found.
    public struct Report {
        /// Table, failures and notes, in print order.
        public var lines: [String]
        /// The gate's failures (package and changed-lines).
        public var failures: [String]
        /// True when nothing failed.
        public var passed: Bool { failures.isEmpty }
        /// One-line verdict.
        public var verdictLine: String
        /// Measured coverage per package.
        public var packages: [PackageCoverage]
        /// Changed-lines coverage, when asked for.
        public var changedLines: ChangedLinesCoverage?
    }

    /// Measures and evaluates; in the devel profile rewrites the thresholds file.
    public func execute() throws -> Report {
        let file = thresholdsFile ?? CoverageThresholds.defaultPath(in: workspace)
        let fileName = workspace.relativePath(file)
        let thresholds = try CoverageThresholds.load(from: file)
        let measurement = try CoverageMeasurement.measure(workspace, runTests: runTests, echo: echo)
        let packages = measurement.packages(excluding: thresholds.exclusions)
        let verdict = CoverageGate.evaluate(packages, thresholds: thresholds, profile: profile, file: fileName)
        var lines = [CoverageGate.table(packages, thresholds: thresholds)]
        var failures = verdict.failures
        lines += verdict.notes.map { "note: \($0)" }
        if profile == .devel, let updated = verdict.updatedThresholds {
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try updated.rendered().write(to: file, atomically: true, encoding: .utf8)
            lines.append("coverage: rewrote \(fileName)")
        }
        var changed: ChangedLinesCoverage?
        if let changedSince {
            let result = try ChangedLinesCoverage.measure(
                since: changedSince, workspace: workspace, measurement: measurement,
                exclusions: thresholds.exclusions)
            changed = result
            lines.append(
                "changed lines since \(changedSince): \(result.covered)/\(result.executable) covered "
                    + "(\(CoverageGate.format(result.percent))%, minimum \(CoverageGate.format(thresholds.changedLinesMinimum))%)"
            )
            if result.percent < thresholds.changedLinesMinimum {
                failures.append(
                    "changed lines since \(changedSince): \(CoverageGate.format(result.percent))% covered, below "
                        + "\(CoverageGate.format(thresholds.changedLinesMinimum))%; untested: "
                        + result.uncovered.prefix(20).joined(separator: ", ")
                        + (result.uncovered.count > 20 ? ", ..." : ""))
            }
        }
        if html {
            let output = workspace.root.appendingPathComponent(".build/coverage-html")
            let sources = packages.flatMap(\.files).map { workspace.root.appendingPathComponent($0.path).path }
            let result = try ProcessRunner.run(
                [
                    try CoverageMeasurement.toolchainTool("llvm-cov"), "show", "-format=html",
                    "-output-dir", output.path, "-instr-profile", measurement.profile.path,
                    measurement.testBinary.path,
                ] + sources)
            lines.append(
                result.succeeded
                    ? "html report: \(output.path)/index.html" : "html report failed: \(result.output.prefix(200))")
        }
        lines += failures.map { "FAIL \($0)" }
        let verdictLine =
            failures.isEmpty
            ? "\(packages.count) packages within thresholds (\(profile.rawValue) profile)"
            : "\(failures.count) coverage failures (\(profile.rawValue) profile)"
        return Report(
            lines: lines, failures: failures, verdictLine: verdictLine, packages: packages, changedLines: changed)
    }
}
