// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

@Suite struct BenchReportTests {
    @Test func ratioIsOrientedSoThatOneMeansParity() throws {
        let throughput = BenchResult(
            name: "t", unit: "bytes/s", ours: 300, peer: 200, peerName: "p", higherIsBetter: true, goal: 1.0)
        #expect(throughput.ratio == 1.5)
        #expect(throughput.meetsGoal)
        let latency = BenchResult(
            name: "l", unit: "ns/op", ours: 40, peer: 20, peerName: "p", higherIsBetter: false, goal: 1.0)
        #expect(latency.ratio == 0.5)
        #expect(!latency.meetsGoal)
        let missingPeer = BenchResult(
            name: "m", unit: "bytes/s", ours: 1, peer: nil, peerName: "p", higherIsBetter: true, goal: 1.0)
        #expect(missingPeer.ratio == nil)
        #expect(!missingPeer.meetsGoal)
        // In JSON the missing peer figure and ratio are explicit nulls, and decode back to nil.
        let json = try BenchReport(area: "memory", build: "release", host: "test", results: [missingPeer]).json()
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
        #expect(object?.first?["peer"] is NSNull)
        #expect(object?.first?["ratio"] is NSNull)
        #expect(object?.first?["goal"] as? Double == 1.0)
        #expect(try JSONDecoder().decode([BenchResult].self, from: Data(json.utf8)) == [missingPeer])
    }

    @Test func jsonRoundTripsAndTextEndsWithVerdict() throws {
        let report = BenchReport(
            area: "serial", build: "release", host: "test",
            results: [
                BenchResult(
                    name: "uart-transmit", unit: "bytes/s", ours: 2.5e8, peer: 2e8, peerName: "vm-superio 0.7.0",
                    higherIsBetter: true, goal: 1.0, notes: ["n"])
            ])
        // `--json` is a top-level array of figures; extra context keys do not get in the way of decoding.
        let decoded = try JSONDecoder().decode([BenchResult].self, from: Data(try report.json().utf8))
        #expect(decoded == report.results)
        let object = try JSONSerialization.jsonObject(with: Data(try report.json().utf8)) as? [[String: Any]]
        #expect(object?.first?["ratio"] as? Double == 1.25)
        #expect(object?.first?["peer"] as? Double == 2e8)
        #expect(object?.first?["area"] as? String == "serial")
        let text = report.text()
        #expect(text.contains("ours 250M bytes/s, vm-superio 0.7.0 200M bytes/s, ratio 1.25x (goal ≥ 1.00x)"))
        #expect(text.hasSuffix("bench serial: uart-transmit 1.25x, goal met"))
    }

    @Test func rustPeerManifestUsesTheDebianRegistryOffline() {
        let peer = RustPeer(name: "x", dependencies: ["vm-superio": "=0.7.0"], mainSource: "fn main() {}")
        #expect(peer.manifest.contains("vm-superio = \"=0.7.0\""))
        #expect(RustPeer.offlineConfiguration.contains("directory = \"/usr/share/cargo/registry\""))
        #expect(RustPeer.offlineConfiguration.contains("offline = true"))
    }

    @Test func serialBenchSidesAgreeOnAShortRun() {
        let bench = SerialBench(bytes: 4096, rounds: 1)
        let ours = bench.measureOurs()
        #expect(ours.checksum == bench.expectedChecksum)
        #expect(ours.interrupts == 4096 / 16)
        #expect(ours.bytesPerSecond > 0)
        // 0x60 (THRE|TEMT) per LSR read, 0xC2 (FIFOs, THRE) per IIR read.
        #expect(ours.statusSum == 4096 * 0x60 + 256 * 0xc2)
    }

    @Test func exitBenchRunsBothSidesOnKVM() throws {
        guard access("/dev/kvm", R_OK | W_OK) == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("CI=true and /dev/kvm is missing") }
            print("SKIPPED (loudly): /dev/kvm is missing; exitBenchRunsBothSidesOnKVM did not run")
            return
        }
        // Each side checks every exit was the guest's port write (ours counts the writes that reached
        // VMOperations); the report carries both figures and their ratio.
        let report = try ExitBench(exits: 2000, rounds: 2).run()
        let result = try #require(report.results.first)
        #expect(report.area == "exits")
        #expect(result.name == "pio-exit-round-trip" && result.unit == "ns/exit")
        #expect(result.ours > 0 && (result.peer ?? 0) > 0 && result.ratio != nil)
        #expect(result.notes.contains { $0.hasPrefix("rounds: ours ") })
    }

    @Test func peerOutputParsesAndMissingFieldsAreRejected() {
        let line = "bytes_per_second=2.5e8 checksum=10 interrupts=3 status_sum=7\n"
        #expect(
            SerialBench.parsePeer(line)
                == SerialBench.Measurement(bytesPerSecond: 2.5e8, checksum: 10, interrupts: 3, statusSum: 7))
        #expect(SerialBench.parsePeer("bytes_per_second=1 checksum=2") == nil)
    }
}
