// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import VMMToolsKit

/// `vmm-tools bench <area>`: performance figures side by side with a peer
/// (QEMU, rust-vmm crates) measured in the same run; ratios are what count.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks side by side with QEMU and rust-vmm, measured in the same run.",
        subcommands: [
            // one line per benchmark area
            BenchBoot.self,
            BenchExits.self,
            BenchIO.self,
            BenchMemory.self,
            BenchMemoryOverhead.self,
            BenchSerial.self,
        ])
}

/// Prints `report` (JSON or text) and fails the command when a figure misses its goal.
func present(_ report: BenchReport, json: Bool) throws {
    say(json ? try report.json() : report.text())
    if !report.meetsGoals { throw ExitCode.failure }
}
