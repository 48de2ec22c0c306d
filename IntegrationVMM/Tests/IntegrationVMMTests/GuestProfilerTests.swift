// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import IntegrationVMMCore
import Testing

@Suite struct GuestProfilerTests {
    /// Two functions at 0xffffffff81000000 (0x100 bytes) and 0xffffffff81000100.
    static func symbolize(_ rip: UInt64) -> (name: String, offset: UInt64)? {
        switch rip {
        case 0xffff_ffff_8100_0000..<0xffff_ffff_8100_0100: return ("first", rip - 0xffff_ffff_8100_0000)
        case 0xffff_ffff_8100_0100..<0xffff_ffff_8100_0200: return ("second", rip - 0xffff_ffff_8100_0100)
        default: return nil
        }
    }

    @Test func reportRanksFunctionsAndSplitsKernelFromUser() {
        let profiler = GuestProfiler(interval: .milliseconds(5))
        let samples: [(Int, UInt64)] = [
            (0, 0xffff_ffff_8100_0010), (10, 0xffff_ffff_8100_0020), (20, 0xffff_ffff_8100_0110),
            (6_000, 0xffff_ffff_8100_0120), (6_010, 0xffff_ffff_8100_0130), (6_020, 0x40_1000),
            (6_030, 0xffff_ffff_9000_0000), (6_040, 0xffff_ffff_8100_0140),
        ]
        for (milliseconds, rip) in samples {
            profiler.record(.init(elapsed: .milliseconds(milliseconds), vcpu: 0, rip: rip))
        }
        let report = profiler.report(top: 10, window: .seconds(5), symbolize: Self.symbolize)
        let lines = report.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0].hasPrefix("guest profile: 8 samples over 6.040 s, one per vCPU every 5 ms"))
        #expect(lines[0].contains("kernel  87.5%") && lines[0].contains("user  12.5%"), "\(lines[0])")
        // second: 4 samples (50%), first: 2 (25%), then one each, ties by name.
        #expect(lines[3] == "      4   50.0%  second")
        #expect(lines[4] == "      2   25.0%  first")
        #expect(lines[5] == "      1   12.5%  [kernel 0xffffffff90000000]")
        #expect(lines[6] == "      1   12.5%  [user]")
        #expect(report.contains("  0.000 s: first  66.7%, second  33.3%"), "\(report)")
        #expect(report.contains("  5.000 s: second  60.0%, [kernel 0xffffffff90000000]  20.0%, [user]  20.0%"))
    }

    @Test func capacityBoundsTheSamplesKept() {
        let profiler = GuestProfiler(interval: .milliseconds(1), capacity: 3)
        for index in 0..<5 { profiler.record(vcpu: index % 2, rip: UInt64(index)) }
        #expect(profiler.samples.map(\.rip) == [0, 1, 2])
        #expect(profiler.samples.map(\.vcpu) == [0, 1, 0])
        #expect(profiler.droppedSamples == 2)
        #expect(profiler.report(symbolize: { _ in nil }).contains("2 dropped (capacity)"))
    }

    @Test func intervalIsClampedAndAnEmptyProfileReportsZero() {
        #expect(GuestProfiler(interval: .microseconds(10)).interval == .milliseconds(1))
        #expect(GuestProfiler(interval: .seconds(30)).interval == .seconds(1))
        let report = GuestProfiler().report(symbolize: { _ in nil })
        #expect(report.hasPrefix("guest profile: 0 samples over 0.000 s"))
        #expect(report.contains("kernel   0.0%"))
    }
}
