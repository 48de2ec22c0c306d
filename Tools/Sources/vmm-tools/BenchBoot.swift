// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import Foundation
import GuestAssets
import VMMToolsKit

/// Options shared by the two integration-vmm benches.
struct VMMBenchOptions: ParsableArguments {
    @OptionGroup var workspace: WorkspaceOptions
    @Option(help: "integration-vmm binary (default: build it and vhost-device-blk with -c release).") var vmm: String?
    @Option(help: "Guest RAM in MiB.") var memoryMib = 256
    @Option(help: "vCPUs.") var cpus = 1
    @Flag(help: "Print the report as JSON.") var json = false

    func bench(progress: (String) -> Void) throws -> BootBench {
        let root = try workspace.workspace().root
        let binary: URL
        if let vmm {
            binary = URL(fileURLWithPath: vmm)
        } else {
            progress("building integration-vmm (release)...")
            let status = try LineStreamingProcess.run(
                ["swift", "build", "-c", "release", "--product", "integration-vmm"], in: root
            ) { _ in }
            guard status == 0 else { throw fail("swift build -c release --product integration-vmm failed") }
            // `bench io` also measures the project's vhost-user-blk daemon, built beside it.
            let daemon = try LineStreamingProcess.run(
                ["swift", "build", "-c", "release", "--product", "vhost-device-blk"], in: root
            ) { _ in }
            guard daemon == 0 else { throw fail("swift build -c release --product vhost-device-blk failed") }
            binary = root.appendingPathComponent(".build/release/integration-vmm")
        }
        let assets: GuestAssets
        do {
            assets = try GuestAssets.locate(repositoryRoot: root)
        } catch {
            throw fail("bench: \(error)")
        }
        var bench = BootBench(vmm: binary, assets: assets)
        bench.memoryMiB = memoryMib
        bench.cpus = cpus
        return bench
    }
}

/// `vmm-tools bench boot`: time to userspace, integration-vmm vs QEMU microvm.
struct BenchBoot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Process start to the guest's userspace marker: integration-vmm vs QEMU microvm (alternating).",
        discussion:
            "Goal: integration-vmm ≤ 0.7× QEMU's time (ratio ≥ 1.43). Each boot takes ~25 s or more on PVM hosts.")

    @OptionGroup var options: VMMBenchOptions
    @Option(help: "Boots of each VMM.") var runs = 10

    func run() throws {
        let quiet = options.json
        let bench = try options.bench { if !quiet { say($0) } }
        let report = try bench.bootReport(runs: runs) { if !quiet { say($0) } }
        try present(report, json: options.json)
    }
}
