// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Glibc
import VMMemory
import VMMemoryLinux

/// `vmm-tools bench memory`: VMMemory against plain `memcpy` (the limit for bulk
/// copies) and rust-vmm's vm-memory (built offline from Debian's
/// `librust-vm-memory-dev`), measured in the same run with the same workloads,
/// address sequences and repetition counts (Tools/Resources/memory-bench is the
/// Rust side). Each figure is the best of several repetitions.
///
/// ```swift
/// let report = MemoryBench.run(workspace: workspace)
/// print(report.text())
/// ```
public enum MemoryBench {
    /// Bulk copy sizes and how many copies one repetition makes (the Rust side uses the same).
    static let copies: [(label: String, size: Int, rounds: Int)] = [
        ("4KiB", 4096, 20_000), ("64KiB", 65536, 2_000), ("1MiB", 1 << 20, 200),
    ]
    /// Region counts of the lookup benchmark.
    static let regionCounts = [1, 2, 4, 8, 16, 32, 64]
    /// Runs per measurement; the best one counts (the machine is shared and noisy).
    static let repetitions = 15
    /// Where copies and object accesses land in guest memory.
    static let base: UInt64 = 0x10_0000

    // MARK: - Measurements (nanoseconds per operation, keyed by workload name)

    /// Measures VMMemory on an anonymous `mmap` region, and plain `memcpy` between
    /// the very same host buffer and guest bytes (so alignment and page placement,
    /// which move copy speed by several percent, are identical for both).
    public static func measureOurs() throws -> (ours: [String: Double], memcpy: [String: Double]) {
        var results: [String: Double] = [:]
        var memcpyResults: [String: Double] = [:]
        let memory = try GuestMemoryMap(regions: [
            MmapRegion.anonymous(at: .zero, size: 64 << 20, options: .init(noReserve: true))
        ])
        let address = GuestAddress(base)
        for copy in copies {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: copy.size, alignment: 64)
            // SAFETY: `buffer` was allocated just above and is freed once, at the end of this iteration, after the
            // measure closures (non-escaping, run synchronously) have finished with it.
            defer { unsafe buffer.deallocate() }
            // SAFETY: fills exactly the copy.size bytes of `buffer`, which this iteration owns.
            unsafe buffer.initializeMemory(as: UInt8.self, repeating: 0x5a)
            let source = UnsafeRawBufferPointer(buffer)
            // SAFETY: region 0 is a 64 MiB mapping that `memory` keeps mapped for this whole function; base (1 MiB)
            // plus the largest copy (1 MiB) stays inside it.
            let guestBytes = unsafe memory.regions[0].hostAddress + Int(base)
            let host = buffer.baseAddress!
            memcpyResults["copy-in-\(copy.label)"] = try measure(operations: copy.rounds) {
                // SAFETY: `buffer` and guestBytes (1 MiB into the 64 MiB region 0) both hold copy.size <= 1 MiB bytes.
                for _ in 0..<copy.rounds { unsafe memcpy(guestBytes, host, copy.size) }
            }
            results["copy-in-\(copy.label)"] = try measure(operations: copy.rounds) {
                // SAFETY: `source` is the live `buffer`; write bounds-checks the guest range (throws if outside).
                for _ in 0..<copy.rounds { try unsafe memory.write(source, to: address) }
            }
            memcpyResults["copy-out-\(copy.label)"] = try measure(operations: copy.rounds) {
                // SAFETY: `buffer` and guestBytes (1 MiB into the 64 MiB region 0) both hold copy.size <= 1 MiB bytes.
                for _ in 0..<copy.rounds { unsafe memcpy(host, guestBytes, copy.size) }
            }
            results["copy-out-\(copy.label)"] = try measure(operations: copy.rounds) {
                // SAFETY: read fills at most buffer.count bytes of the live `buffer`; it bounds-checks the guest range.
                for _ in 0..<copy.rounds { try unsafe memory.read(into: buffer, from: address) }
            }
        }
        try measureObjects(UInt8.self, memory, into: &results)
        try measureObjects(UInt16.self, memory, into: &results)
        try measureObjects(UInt32.self, memory, into: &results)
        try measureObjects(UInt64.self, memory, into: &results)
        for count in regionCounts {
            let regions = try (0..<count).map { index in
                try MmapRegion.anonymous(at: GuestAddress(UInt64(index) << 20), size: 1 << 20)
            }
            let layout = try GuestMemoryMap(regions: regions)
            let targets = addresses(count: 4096, span: UInt64(count) << 20, alignment: 1, seed: 0x2545_f491_4f6c_dd1d)
            let rounds = 256
            results["lookup-\(count)"] = try measure(operations: rounds * targets.count) {
                var found = 0
                for _ in 0..<rounds {
                    for target in targets where layout.regionIndex(containing: GuestAddress(target)) != nil {
                        found &+= 1
                    }
                }
                // SAFETY: the global sink is touched only by these benchmark loops, run one at a time on one thread.
                unsafe memoryBenchSink &+= UInt64(found)
            }
        }
        return (results, memcpyResults)
    }

    static func measureObjects<T: FixedWidthInteger & BitwiseCopyable>(
        _: T.Type, _ memory: GuestMemoryMap<MmapRegion>, into results: inout [String: Double]
    ) throws {
        let bits = T.bitWidth
        let offsets = addresses(
            count: 4096, span: 1 << 20, alignment: UInt64(MemoryLayout<T>.size), seed: 0x9e37_79b9_7f4a_7c15)
        let rounds = 256
        let operations = rounds * offsets.count
        results["read-u\(bits)"] = try measure(operations: operations) {
            var sum: UInt64 = 0
            for _ in 0..<rounds {
                for offset in offsets {
                    let value = try memory.readLittleEndian(T.self, from: GuestAddress(base + offset))
                    sum &+= UInt64(truncatingIfNeeded: value)
                }
            }
            // SAFETY: the global sink is touched only by these benchmark loops, which run one at a time on one thread.
            unsafe memoryBenchSink &+= sum
        }
        results["write-u\(bits)"] = try measure(operations: operations) {
            for round in 0..<rounds {
                for offset in offsets {
                    let value = T(truncatingIfNeeded: UInt64(round) ^ offset)
                    try memory.writeLittleEndian(value, to: GuestAddress(base + offset))
                }
            }
        }
    }

    /// The vm-memory version in Debian's registry, if installed.
    public static var vmMemoryVersion: String? { RustPeer.installedVersion(of: "vm-memory") }

    /// Builds Tools/Resources/memory-bench in a temporary folder with `cargo --offline`
    /// against Debian's registry, runs it and parses its `name ns` lines.
    ///
    /// The project's own Cargo.toml is used (not ``RustPeer``'s generated manifest)
    /// because vm-memory needs its `backend-mmap` feature turned on.
    ///
    /// The program runs `rounds` times with `between` called after each run, so the
    /// caller can interleave its own measurements (the machine is shared: a burst of
    /// load then hurts both sides alike). Each figure is the best over the rounds.
    /// Errors thrown by `between` propagate; peer failures come back as `.failure`.
    public static func measureVMMemory(
        workspace: Workspace, rounds: Int = 1, between: () throws -> Void = {}, log: (String) -> Void = { _ in }
    ) throws -> Result<[String: Double], RustPeerError> {
        guard vmMemoryVersion != nil else {
            return .failure(
                RustPeerError(
                    "\(RustPeer.debianRegistry) has no vm-memory crate: apt-get install librust-vm-memory-dev"))
        }
        let resources = workspace.root.appendingPathComponent("Tools/Resources/memory-bench")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "swift-vmm-memory-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            try FileManager.default.createDirectory(
                at: folder.appendingPathComponent(".cargo"), withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                at: resources.appendingPathComponent("Cargo.toml"), to: folder.appendingPathComponent("Cargo.toml"))
            try FileManager.default.copyItem(
                at: resources.appendingPathComponent("src"), to: folder.appendingPathComponent("src"))
            try RustPeer.offlineConfiguration.write(
                to: folder.appendingPathComponent(".cargo/config.toml"), atomically: true, encoding: .utf8)
        } catch {
            return .failure(RustPeerError("cannot prepare \(folder.path): \(error)"))
        }
        log("bench memory: building the vm-memory peer offline in \(folder.path)")
        let binary = folder.appendingPathComponent("target/release/swift-vmm-memory-bench").path
        do {
            let build = try ProcessRunner.run(
                ["cargo", "build", "--offline", "--release", "--quiet"], in: folder,
                environment: ["CARGO_TARGET_DIR": folder.appendingPathComponent("target").path])
            guard build.succeeded else {
                return .failure(
                    RustPeerError("cargo build failed (status \(build.status)): \(build.output.suffix(2000))"))
            }
        } catch {
            return .failure(RustPeerError("\(error) (cargo comes from Debian's cargo package or rustup)"))
        }
        var best: [String: Double] = [:]
        for _ in 0..<rounds {
            let run: ProcessResult
            do {
                run = try ProcessRunner.run([binary])
            } catch {
                return .failure(RustPeerError("\(error)"))
            }
            guard run.succeeded else {
                return .failure(RustPeerError("the vm-memory bench exited with status \(run.status)"))
            }
            best.merge(parse(run.output), uniquingKeysWith: min)
            try between()
        }
        return .success(best)
    }

    /// Parses `name value` lines.
    static func parse(_ output: String) -> [String: Double] {
        var results: [String: Double] = [:]
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let value = Double(fields[1]) { results[String(fields[0])] = value }
        }
        return results
    }

    // MARK: - Report

    /// Measures all three sides and builds the report: bulk copies against memcpy
    /// (goal 0.9x) and vm-memory, object accesses and region lookups against
    /// vm-memory (goal 1.0x). A peer that cannot run leaves its figures empty and
    /// says why in the notes.
    public static func run(
        workspace: Workspace, rounds: Int = 3, log: (String) -> Void = { _ in }
    ) throws
        -> BenchReport
    {
        // Peer and ours alternate `rounds` times; every figure is the best of its side.
        var ours: [String: Double] = [:]
        var memcpy: [String: Double] = [:]
        let measureOnce = {
            let round = try measureOurs()
            ours.merge(round.ours, uniquingKeysWith: min)
            memcpy.merge(round.memcpy, uniquingKeysWith: min)
        }
        let peer = try measureVMMemory(workspace: workspace, rounds: rounds, between: measureOnce, log: log)
        if case .failure = peer { try measureOnce() }
        var notes = [
            "best of \(rounds) alternating rounds of \(repetitions) runs per side",
            "peer toolchain: \(RustPeer.toolchain)",
        ]
        if case .failure(let error) = peer { notes.append("vm-memory peer unavailable: \(error)") }
        return BenchReport(
            area: "memory", results: results(ours: ours, memcpy: memcpy, vmMemory: try? peer.get(), notes: notes))
    }

    /// The report rows from the three measurement tables.
    public static func results(
        ours: [String: Double], memcpy: [String: Double], vmMemory: [String: Double]?, notes: [String] = []
    ) -> [BenchResult] {
        let vmMemoryName = "rust-vmm vm-memory \(vmMemoryVersion ?? "(not installed)")"
        var results: [BenchResult] = []
        for copy in copies {
            for direction in ["copy-in", "copy-out"] {
                let name = "\(direction)-\(copy.label)"
                guard let nanoseconds = ours[name] else { continue }
                let throughput = { (ns: Double) in Double(copy.size) / ns * 1e9 / Double(1 << 30) }
                results.append(
                    BenchResult(
                        name: "\(name)-vs-memcpy", unit: "GiB/s", ours: throughput(nanoseconds),
                        peer: memcpy[name].map(throughput), peerName: "glibc memcpy", higherIsBetter: true,
                        goal: 0.9))
                results.append(
                    BenchResult(
                        name: name, unit: "GiB/s", ours: throughput(nanoseconds),
                        peer: vmMemory?[name].map(throughput), peerName: vmMemoryName, higherIsBetter: true))
            }
        }
        let latencyNames =
            [8, 16, 32, 64].flatMap { ["read-u\($0)", "write-u\($0)"] } + regionCounts.map { "lookup-\($0)-regions" }
        for name in latencyNames {
            let key = name.replacingOccurrences(of: "-regions", with: "")
            guard let nanoseconds = ours[key] else { continue }
            results.append(
                BenchResult(
                    name: name, unit: "ns/op", ours: nanoseconds, peer: vmMemory?[key], peerName: vmMemoryName,
                    higherIsBetter: false, goal: 1.0))
        }
        // The notes apply to every row; the text report prints them once, under the first.
        if !results.isEmpty { results[0].notes = notes }
        return results
    }

    // MARK: - Helpers

    /// Best time per operation, in nanoseconds, over `repetitions` runs of `body`.
    static func measure(operations: Int, _ body: () throws -> Void) throws -> Double {
        var best = Double.infinity
        for _ in 0..<repetitions {
            let start = now()
            try body()
            best = min(best, Double(now() - start) / Double(operations))
        }
        return best
    }

    static func now() -> UInt64 {
        var time = timespec()
        // SAFETY: `time` is a local timespec, alive for the call: the one struct clock_gettime writes.
        unsafe clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// xorshift64 offsets in `[0, span)` rounded down to `alignment`: the Rust side's sequence.
    static func addresses(count: Int, span: UInt64, alignment: UInt64, seed: UInt64) -> [UInt64] {
        var state = seed
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return (state % span) & ~(alignment - 1)
        }
    }
}

/// Results of benchmark loops land here so the optimizer cannot drop the loops.
nonisolated(unsafe) var memoryBenchSink: UInt64 = 0
