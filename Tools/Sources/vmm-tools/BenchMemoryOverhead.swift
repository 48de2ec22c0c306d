// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import VMMToolsKit

/// `vmm-tools bench memory-overhead`: VMM RSS without guest RAM, integration-vmm vs QEMU.
struct BenchMemoryOverhead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory-overhead",
        abstract: "VMM RSS excluding guest memory (from /proc/<pid>/smaps) with the guest idle, vs QEMU microvm.",
        discussion: "Goal: 5 MiB or less (Firecracker's bar).")

    @OptionGroup var options: VMMBenchOptions
    @Option(help: "Samples of each VMM.") var runs = 3

    func run() throws {
        let quiet = options.json
        let bench = try options.bench { if !quiet { say($0) } }
        let report = try bench.memoryReport(runs: runs) { if !quiet { say($0) } }
        say(options.json ? try report.json() : report.text())
    }
}
