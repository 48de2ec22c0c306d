// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import VMMToolsKit

struct Fuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Build and run every package's libFuzzer targets (Packages/<P>/Fuzz/run.sh).",
        discussion: "Fails when a target does not build, crashes, or stops short of --runs executions.")

    @OptionGroup var options: WorkspaceOptions
    @Option(help: "Executions per target.") var runs = 1_000_000
    @Option(help: "Only this package's targets (repeatable).") var package: [String] = []
    @Flag(help: "List the targets and exit.") var list = false
    @Flag(help: "Show the compiler and fuzzer output.") var verbose = false

    func run() throws {
        guard runs > 0 else { throw ValidationError("--runs must be positive") }
        let fuzz = FuzzRun(workspace: try options.workspace(), runs: runs, packages: Set(package), echo: verbose)
        if list {
            for target in try fuzz.targets() { say(target.description) }
            return
        }
        let outcomes = try fuzz.execute()
        for outcome in outcomes {
            say(outcome.line)
            for line in outcome.problem where !outcome.passed { say("  \(line)") }
        }
        let failed = outcomes.filter { !$0.passed }.count
        say("\(outcomes.count - failed) passed, \(failed) failed")
        if outcomes.isEmpty || failed > 0 { throw ExitCode.failure }
    }
}
