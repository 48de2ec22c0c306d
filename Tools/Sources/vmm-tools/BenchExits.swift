// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import Foundation
import VMMToolsKit

/// `vmm-tools bench exits`: one vCPU exit through the Hypervisor protocols vs raw KVMIoctls.
struct BenchExits: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exits",
        abstract: "Port-write exits per second through the Hypervisor protocols vs raw KVMIoctls (needs /dev/kvm).",
        discussion: """
            A real-mode guest writes port 0x80 in a loop; each side runs it on its own VM in this
            process, alternating rounds. Goal: the protocol layer within 5% of the raw ioctls.
            Build in release mode for the figures that count:
            swift run -c release vmm-tools bench exits
            """)

    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "Port writes per timed run.") var exits = 200_000
    @Option(help: "Alternating rounds; each side's figure is its median round.") var rounds = 5

    func run() throws {
        guard exits > 0, rounds > 0 else { throw ValidationError("--exits and --rounds must be positive") }
        let report = try ExitBench(exits: exits, rounds: rounds).run()
        try present(report, json: json)
    }
}
