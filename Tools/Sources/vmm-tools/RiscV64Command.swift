// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import VMMToolsKit

struct RiscV64: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "riscv64",
        abstract: "Build the portable packages' test cases for riscv64 (Embedded Swift) and run them under qemu.")

    @OptionGroup var options: WorkspaceOptions
    @Flag(help: "Show compiler and qemu output.") var verbose = false

    func run() throws {
        let report = try RiscV64Run(workspace: try options.workspace(), echo: verbose).execute()
        for line in report.lines { say(line) }
        say("\(report.passed) passed, \(report.failed) failed")
        if !report.succeeded { throw ExitCode.failure }
    }
}
