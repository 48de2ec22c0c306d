// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

@Suite struct FuzzRunTests {
    /// The repository's own fuzz scripts list their targets.
    @Test func findsTheWorkspacesTargets() throws {
        let workspace = try Workspace.locate(from: URL(fileURLWithPath: #filePath).deletingLastPathComponent())
        let targets = try FuzzRun(workspace: workspace, runs: 1).targets().map(\.description)
        #expect(
            targets == [
                "LinuxLoader/bzimage", "LinuxLoader/elf", "LinuxLoader/image", "LinuxLoader/cmdline",
                "Vhost/message", "Vhost/reply", "VhostUserBackend/session", "VirtioDevices/block-request",
                "VirtioDevices/vsock-packet",
                "VirtioDevices/mmio-transport",
                "VirtioQueue/virtqueue",
            ])
    }

    /// A run passes only when it exits 0 after every execution asked for; a crash or a short
    /// run fails and keeps libFuzzer's explanation.
    @Test func readsLibFuzzerStatisticsAndFailures() {
        let target = FuzzTarget(package: "P", name: "t")
        let clean = FuzzRun.outcome(
            of: target, requested: 1000, status: 0,
            output:
                "#1000\tDONE   cov: 12 ft: 30\nDone 1000 runs in 1 second(s)\nstat::number_of_executed_units: 1000\n")
        #expect(clean.passed && clean.executions == 1000)
        #expect(clean.line == "fuzz P/t: 1000 executions, no crash")

        let crash = FuzzRun.outcome(
            of: target, requested: 1000, status: 1,
            output: """
                ==42==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000011
                SUMMARY: AddressSanitizer: heap-buffer-overflow fuzz+0x1234
                artifact_prefix='/w/'; Test unit written to /w/crash-da39a3ee
                stat::number_of_executed_units: 517
                """)
        #expect(!crash.passed)
        #expect(crash.line == "fuzz P/t: FAILED (exit 1, 517 of 1000 executions)")
        #expect(crash.problem.count == 3 && crash.problem[0].contains("heap-buffer-overflow"))

        let short = FuzzRun.outcome(
            of: target, requested: 1000, status: 0, output: "stat::number_of_executed_units: 10\n")
        #expect(!short.passed)
        let silent = FuzzRun.outcome(of: target, requested: 1000, status: 2, output: "swiftc: error: no such file\n")
        #expect(!silent.passed && silent.executions == nil && silent.problem == ["swiftc: error: no such file"])
    }

    /// Real scripts in a fixture workspace: a target whose script fails makes the run report
    /// it, and a package without `Fuzz/run.sh` has no targets.
    @Test func runsEachListedTargetThroughItsScript() throws {
        let fixture = try FixtureWorkspace()
        try fixture.write(
            "Packages/A/Fuzz/run.sh",
            """
            #!/bin/sh
            [ "$1" = --list ] && { echo good; echo bad; exit 0; }
            [ "$1" = bad ] && { echo "==1==ERROR: libFuzzer: deadly signal"; exit 77; }
            echo "stat::number_of_executed_units: $2"
            """)
        let outcomes = try FuzzRun(workspace: fixture.workspace, runs: 300).execute()
        #expect(outcomes.map(\.target.description) == ["A/good", "A/bad"])
        #expect(outcomes.map(\.passed) == [true, false])
        #expect(outcomes[1].status == 77 && outcomes[1].problem == ["==1==ERROR: libFuzzer: deadly signal"])
        #expect(try FuzzRun(workspace: fixture.workspace, runs: 1, packages: ["B"]).targets().isEmpty)
    }
}
