// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import Foundation
import VMMToolsKit

/// `vmm-tools bench memory`: VMMemory against memcpy and rust-vmm's vm-memory.
struct BenchMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Guest memory copies, object access and region lookup vs memcpy and rust-vmm vm-memory.",
        discussion: """
            The peer is built offline from Debian's librust-vm-memory-dev with cargo in a temporary
            folder. Build vmm-tools in release mode for meaningful figures:
            swift run -c release vmm-tools bench memory
            A ratio of 1.0x or more means VMMemory is at least as fast as the peer.
            """)

    @OptionGroup var options: WorkspaceOptions
    @Flag(help: "Print the report as JSON.") var json = false

    func run() throws {
        let workspace = try options.workspace()
        let report: BenchReport
        do {
            report = try MemoryBench.run(workspace: workspace) { line in
                if !json { say(line) }
            }
        } catch {
            throw fail("bench memory: \(error)")
        }
        try present(report, json: json)
    }
}
