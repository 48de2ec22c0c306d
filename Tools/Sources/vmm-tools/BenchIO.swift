// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import Foundation
import VMMToolsKit

/// `vmm-tools bench io`: virtio-blk inside the guest, integration-vmm vs QEMU microvm.
struct BenchIO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io",
        abstract: "Guest block I/O (sequential 1 MiB, random 4 KiB; O_DIRECT): integration-vmm vs QEMU microvm.",
        discussion: """
            Goal: at least QEMU's throughput (ratio ≥ 1.0) for every figure. A third column runs \
            integration-vmm with the disk served by qemu-storage-daemon over vhost-user-blk (rows \
            vhost-user-blk-*, against QEMU, with the ratio to the in-process device in their notes).
            """)

    @OptionGroup var options: VMMBenchOptions
    @Option(help: "Runs of each VMM.") var runs = 3
    @Option(help: "MiB covered by the sequential passes.") var mebibytes = 64
    @Option(help: "Random 4 KiB operations per direction.") var operations = 2000

    func run() throws {
        let quiet = options.json
        let boot = try options.bench { if !quiet { say($0) } }
        let root = try options.workspace.workspace().root
        var bench = IOBench(
            vmm: boot.vmm, assets: boot.assets,
            toolSource: root.appendingPathComponent("IntegrationVMM/GuestTools/vmm-guest-tool.c"))
        bench.mebibytes = mebibytes
        bench.randomOperations = operations
        let report = try bench.report(runs: runs) { if !quiet { say($0) } }
        try present(report, json: options.json)
    }
}
