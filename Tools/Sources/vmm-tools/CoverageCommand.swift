// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import Foundation
import VMMToolsKit

extension CoverageProfile: ExpressibleByArgument {}

struct Coverage: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-package llvm-cov coverage against coverage/<arch>.json.",
        discussion: """
            Runs the tests with coverage (unless --no-run), sums line, region and function coverage per \
            package, and compares them with the thresholds file. --gate fails on a drop beyond the allowed \
            delta; the ci profile (default when CI=true) also fails on an unrecorded rise, printing the edit; \
            the devel profile (default elsewhere) raises thresholds in the file instead.
            """)

    @OptionGroup var options: WorkspaceOptions
    @Flag(help: "Fail when a package is out of line with its thresholds.") var gate = false
    @Option(help: "ci or devel (default: ci when CI=true, else devel).") var profile: CoverageProfile?
    @Flag(help: "Reuse the last `swift test --enable-code-coverage` run instead of running the tests.")
    var noRun = false
    @Option(help: "Also gate the coverage of lines added or modified since this git revision.")
    var changedSince: String?
    @Flag(help: "Write an HTML report to .build/coverage-html.") var html = false
    @Option(help: "Thresholds file (default: coverage/<arch>.json).") var thresholds: String?

    func run() throws {
        let workspace = try options.workspace()
        let chosen = profile ?? (ProcessInfo.processInfo.environment["CI"] == "true" ? .ci : .devel)
        let report = try CoverageRun(
            workspace: workspace, profile: chosen, runTests: !noRun, changedSince: changedSince, html: html,
            thresholdsFile: thresholds.map { URL(fileURLWithPath: $0) }, echo: true
        ).execute()
        for line in report.lines { say(line) }
        if gate && !report.passed { throw fail("coverage: \(report.verdictLine)") }
        say("coverage: \(report.verdictLine)")
    }
}
