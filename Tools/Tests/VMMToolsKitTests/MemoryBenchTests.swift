// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Testing

@testable import VMMToolsKit

@Suite struct MemoryBenchTests {
    @Test func resultsConvertCopiesToThroughputAndOrientRatios() {
        // 4 KiB in 40 ns is 4096 / 40e-9 bytes/s.
        let ours = ["copy-in-4KiB": 40.0, "read-u32": 2.0, "lookup-8": 3.0]
        let results = MemoryBench.results(
            ours: ours, memcpy: ["copy-in-4KiB": 36.0], vmMemory: ["copy-in-4KiB": 80.0, "read-u32": 6.0],
            notes: ["n"])
        let copy = results.first { $0.name == "copy-in-4KiB-vs-memcpy" }
        #expect(copy?.ours == 4096 / 40e-9 / Double(1 << 30))
        #expect(copy?.ratio == 36.0 / 40.0)
        #expect(copy?.goal == 0.9)
        #expect(copy?.meetsGoal == true)
        #expect(copy?.notes == ["n"])
        #expect(results.first { $0.name == "copy-in-4KiB" }?.ratio == 2.0)
        let read = results.first { $0.name == "read-u32" }
        #expect(read?.ratio == 3.0 && read?.unit == "ns/op" && read?.goal == 1.0)
        // No peer figure: no ratio, and a goal that cannot be shown met.
        let lookup = results.first { $0.name == "lookup-8-regions" }
        #expect(lookup?.peer == nil && lookup?.ratio == nil && lookup?.meetsGoal == false)
        #expect(!results.contains { $0.name.hasPrefix("copy-out") })
    }

    @Test func addressSequencesMatchTheRustSide() {
        // xorshift64 (13, 7, 17) from seed 1, as in Tools/Resources/memory-bench/src/main.rs.
        var state: UInt64 = 1
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        let offsets = MemoryBench.addresses(count: 3, span: 1 << 20, alignment: 8, seed: 1)
        #expect(offsets[0] == (state % (1 << 20)) & ~7)
        #expect(offsets.allSatisfy { $0 < 1 << 20 && $0 % 8 == 0 })
    }

    @Test func peerOutputIsParsed() {
        let parsed = MemoryBench.parse("copy-in-4KiB 50.5\nread-u8 6.25\ngarbage\n")
        #expect(parsed == ["copy-in-4KiB": 50.5, "read-u8": 6.25])
    }
}
