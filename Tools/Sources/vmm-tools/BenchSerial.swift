// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import Foundation
import VMMToolsKit

/// `vmm-tools bench serial`: UART transmit throughput against rust-vmm's vm-superio.
struct BenchSerial: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serial",
        abstract: "Bytes/s through the 16550A transmit path to a sink, side by side with rust-vmm vm-superio.",
        discussion: """
            The peer is built offline from Debian's librust-vm-superio-dev with cargo in a temporary
            folder. Build vmm-tools in release mode for a fair comparison:
            swift run -c release vmm-tools bench serial
            """)

    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "Bytes per timed run.") var bytes = 10_000_000
    @Option(help: "Alternating rounds; each side's figure is its best round.") var rounds = 7

    func run() throws {
        guard bytes > 0, rounds > 0 else { throw ValidationError("--bytes and --rounds must be positive") }
        let report = SerialBench(bytes: bytes, rounds: rounds).run()
        try present(report, json: json)
    }
}
