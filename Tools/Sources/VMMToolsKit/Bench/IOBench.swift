// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets

/// `vmm-tools bench io`: block I/O measured inside the guest, integration-vmm's virtio-blk
/// against QEMU microvm's, on the same raw disk file with the same kernel and initramfs.
///
/// The guest runs `vmm-guest-tool bench-io` (IntegrationVMM/GuestTools, built statically
/// here and handed over on a second, read-only disk) on the raw scratch disk with O_DIRECT:
/// sequential 1 MiB writes then reads, then random 4 KiB writes then reads. Both VMMs use
/// the host page cache for the disk file (integration-vmm's default, QEMU's cache=writeback).
///
/// ```swift
/// var bench = IOBench(vmm: URL(fileURLWithPath: ".build/release/integration-vmm"), assets: assets,
///                     toolSource: root.appendingPathComponent("IntegrationVMM/GuestTools/vmm-guest-tool.c"))
/// let report = try bench.report(runs: 3) { print($0) }
/// ```
public struct IOBench: Sendable {
    /// The integration-vmm binary.
    public var vmm: URL
    /// Kernel and initramfs.
    public var assets: GuestAssets
    /// `vmm-guest-tool.c`.
    public var toolSource: URL
    /// MiB covered by the sequential passes (and the random offsets).
    public var mebibytes = 64
    /// Random 4 KiB operations per direction.
    public var randomOperations = 2000
    /// Seconds before a run is abandoned.
    public var timeoutSeconds: Double = 1500

    /// The four figures, in report order.
    public static let figures = ["seq-write-1MiB", "seq-read-1MiB", "rand-write-4KiB", "rand-read-4KiB"]

    /// A bench of `vmm` with `assets`.
    public init(vmm: URL, assets: GuestAssets, toolSource: URL) {
        self.vmm = vmm
        self.assets = assets
        self.toolSource = toolSource
    }

    /// The guest command: find the 16 MiB tools disk (QEMU may order the disks differently),
    /// mount it, run the benchmark on the other one.
    public var guestCommand: String {
        "for d in vda vdb; do if [ $(cat /sys/block/$d/size) = 32768 ]; then t=$d; else s=$d; fi; done; "
            + "mkdir -p /t; mount -t ext4 -o ro /dev/$t /t && "
            + "/t/vmm-guest-tool bench-io /dev/$s \(mebibytes) \(randomOperations)"
    }

    /// Builds the tool disk and the scratch disk in `folder`; returns (tools, scratch).
    public func prepare(in folder: URL) throws -> (tools: String, scratch: String) {
        let content = folder.appendingPathComponent("tools")
        try FileManager.default.createDirectory(at: content, withIntermediateDirectories: true)
        let tools = folder.appendingPathComponent("tools.img").path
        let scratch = folder.appendingPathComponent("scratch.img").path
        try Self.host([
            "cc", "-static", "-O2", "-o", content.appendingPathComponent("vmm-guest-tool").path, toolSource.path,
        ])
        try Self.host(["truncate", "-s", "16M", tools])
        try Self.host(["mkfs.ext4", "-q", "-F", "-d", content.path, tools])
        try Self.host(["truncate", "-s", "\(mebibytes + 16)M", scratch])
        return (tools, scratch)
    }

    static func host(_ arguments: [String]) throws {
        var output: [String] = []
        let status = try LineStreamingProcess.run(["/usr/bin/env", "PATH=/usr/bin:/bin:/usr/sbin:/sbin"] + arguments) {
            output.append($0)
        }
        guard status == 0 else {
            throw GuestAssetsError("\(arguments.joined(separator: " ")) failed: \(output.joined(separator: "\n"))")
        }
    }

    /// integration-vmm's arguments.
    public func ourArguments(tools: String, scratch: String) throws -> [String] {
        let boot = BootBench(vmm: vmm, assets: assets)
        return try boot.ourArguments(command: guestCommand) + [
            "--block", "path=\(scratch)", "--block", "path=\(tools),readonly=on",
        ]
    }

    /// QEMU's arguments: the same disks as virtio-blk-device on microvm's virtio-mmio.
    public func qemuArguments(tools: String, scratch: String) throws -> [String] {
        let boot = BootBench(vmm: vmm, assets: assets)
        return try boot.qemuArguments(command: guestCommand) + [
            "-drive", "id=scratch,file=\(scratch),format=raw,if=none,cache=writeback,aio=threads",
            "-device", "virtio-blk-device,drive=scratch",
            "-drive", "id=tools,file=\(tools),format=raw,if=none,readonly=on",
            "-device", "virtio-blk-device,drive=tools",
        ]
    }

    /// One run: the four figures (MiB/s or IOPS) from the guest's `BENCH-IO` lines.
    public func sample(_ arguments: [String]) throws -> [String: Double] {
        var figures: [String: Double] = [:]
        let timeout = timeoutSeconds
        _ = try LineStreamingProcess.run(
            arguments,
            onStart: { process in
                let reference = IOBenchProcess(process)
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                    if reference.process.isRunning { reference.process.terminate() }
                }
            }
        ) { line in
            if let (name, value) = Self.parse(line) { figures[name] = value }
        }
        return figures
    }

    /// `BENCH-IO seq-write-1MiB 123.456 MiB/s (...)` → ("seq-write-1MiB", 123.456).
    public static func parse(_ line: String) -> (String, Double)? {
        guard let start = line.range(of: "BENCH-IO ") else { return nil }
        let words = line[start.upperBound...].split(separator: " ")
        guard words.count >= 2, figures.contains(String(words[0])), let value = Double(words[1]) else { return nil }
        return (String(words[0]), value)
    }

    /// `runs` alternating runs of each VMM (a fresh scratch disk each time); medians and ratios.
    public func report(runs: Int, progress: (String) -> Void) throws -> BenchReport {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-bench-io-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var ours: [String: [Double]] = [:]
        var peer: [String: [Double]] = [:]
        for run in 0..<runs {
            let (tools, scratch) = try prepare(in: folder)
            let mine = try sample(try ourArguments(tools: tools, scratch: scratch))
            let (_, scratchAgain) = try prepare(in: folder)
            let theirs = try sample(try qemuArguments(tools: tools, scratch: scratchAgain))
            for (name, value) in mine { ours[name, default: []].append(value) }
            for (name, value) in theirs { peer[name, default: []].append(value) }
            progress(
                "io \(run + 1)/\(runs): integration-vmm "
                    + Self.figures.map { "\($0) \(BootBench.show(mine[$0]))" }.joined(separator: ", ")
                    + "; qemu " + Self.figures.map { "\($0) \(BootBench.show(theirs[$0]))" }.joined(separator: ", "))
        }
        let qemu = BootBench.qemuVersion()
        let results = Self.figures.map { name in
            let unit = name.hasSuffix("1MiB") ? "MiB/s" : "IOPS"
            let mine = ours[name] ?? []
            let theirs = peer[name] ?? []
            return BenchResult(
                name: name, unit: unit, ours: BenchEnvironment.median(mine),
                peer: theirs.isEmpty ? nil : BenchEnvironment.median(theirs), peerName: qemu, higherIsBetter: true,
                goal: 1.0,
                notes: [
                    "\(runs) alternating runs each; \(mine.count) of ours and \(theirs.count) of QEMU's reported this figure",
                    "O_DIRECT in the guest on a raw \(mebibytes + 16) MiB disk file; host page cache on both sides",
                ])
        }
        return BenchReport(area: "io", results: results)
    }
}

/// `Process` is thread-safe for `isRunning` and `terminate()`, which is all the timer uses.
private struct IOBenchProcess: @unchecked Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}
