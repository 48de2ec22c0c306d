// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

extension BootBench {
    /// VMM memory overhead with the guest idle (`sleep` in the guest), `runs` samples each.
    public func memoryReport(runs: Int, progress: (String) -> Void) throws -> BenchReport {
        var ours: [Double] = []
        var peer: [Double] = []
        for run in 0..<runs {
            let mine = try sample(ourArguments(command: "sleep 6"), idleSample: 3)
            let theirs = try sample(try qemuArguments(command: "sleep 6"), idleSample: 3)
            if let kib = mine.overheadKiB { ours.append(kib / 1024) }
            if let kib = theirs.overheadKiB { peer.append(kib / 1024) }
            progress(
                "sample \(run + 1)/\(runs): integration-vmm \(Self.show(mine.overheadKiB.map { $0 / 1024 })) MiB, "
                    + "qemu \(Self.show(theirs.overheadKiB.map { $0 / 1024 })) MiB")
        }
        let median = BenchEnvironment.median(ours)
        let result = BenchResult(
            name: "vmm-memory-overhead", unit: "MiB", ours: median,
            peer: peer.isEmpty ? nil : BenchEnvironment.median(peer),
            peerName: Self.qemuVersion(), higherIsBetter: false, goal: nil,
            notes: [
                "RSS from /proc/<pid>/smaps minus guest RAM mappings, 3 s after the marker while the guest sleeps",
                "\(memoryMiB) MiB guest, \(cpus) vCPU, \(runs) samples each; Firecracker's bar is 5 MiB: "
                    + (median <= 5 ? "met" : "missed"),
            ])
        return BenchReport(area: "memory-overhead", results: [result])
    }
}
