// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets

/// One VMM process measured by ``BootBench``: time from process start to the
/// userspace marker and, optionally, its memory overhead while the guest idles.
public struct VMMBootSample: Sendable, Equatable {
    /// Seconds from starting the process to the `VMM-GUEST-READY` line; nil if it never came.
    public var readySeconds: Double?
    /// RSS in KiB excluding guest RAM, sampled while the guest idled; nil when not asked or not readable.
    public var overheadKiB: Double?
    /// The process's exit status.
    public var status: Int32
}

/// `vmm-tools bench boot` and `bench memory-overhead`: integration-vmm against QEMU
/// microvm with the same kernel, initramfs, memory and vCPUs, in alternating runs.
///
/// ```swift
/// let bench = BootBench(vmm: URL(fileURLWithPath: ".build/release/integration-vmm"), assets: assets)
/// let report = try bench.bootReport(runs: 10) { print($0) }
/// print(report.text())
/// ```
public struct BootBench: Sendable {
    /// The integration-vmm binary.
    public var vmm: URL
    /// Kernel and initramfs (from ``GuestAssets/locate(kernelPath:initramfsPath:flavor:environment:cache:repositoryRoot:)``).
    public var assets: GuestAssets
    /// Guest RAM in MiB.
    public var memoryMiB = 256
    /// vCPUs.
    public var cpus = 1
    /// Seconds before a boot is abandoned.
    public var timeoutSeconds: Double = 400

    /// A bench of `vmm` booting `assets`.
    public init(vmm: URL, assets: GuestAssets) {
        self.vmm = vmm
        self.assets = assets
    }

    /// The kernel parameters both VMMs get: the assets' plus `acpi=off` (QEMU microvm's
    /// ACPI and ours both break this kernel's serial interrupt; see STATUS.md).
    public var commandLine: String {
        assets.commandLine.split(separator: " ").contains("acpi=off")
            ? assets.commandLine : assets.commandLine + " acpi=off"
    }

    /// integration-vmm's arguments for a boot that runs `command`. The command goes on the
    /// kernel command line rather than through `--command`, which would hide the marker line.
    public func ourArguments(command: String) throws -> [String] {
        [
            vmm.path, "--kernel",
            "path=\(assets.kernel.path),cmdline=\(try GuestCommandLine.running(command, after: commandLine))",
            "--initrd", assets.initramfs?.path ?? "", "--memory", "size_mib=\(memoryMiB)", "--vcpus", "\(cpus)",
        ]
    }

    /// QEMU's arguments (`-M microvm,acpi=off -cpu host -enable-kvm`, as ``GuestBootCheck``).
    public func qemuArguments(command: String) throws -> [String] {
        guard let initramfs = assets.initramfs else { throw GuestAssetsError("no guest initramfs") }
        var check = GuestBootCheck(kernel: assets.kernel, initramfs: initramfs, commandLine: commandLine)
        check.memoryMiB = memoryMiB
        check.cpus = cpus
        return try check.qemuArguments(command: command)
    }

    /// Runs one VMM; with `idleSample`, reads its smaps that many seconds after the marker.
    public func sample(_ arguments: [String], idleSample: Double? = nil) throws -> VMMBootSample {
        let started = Date()
        var result = VMMBootSample(readySeconds: nil, overheadKiB: nil, status: 0)
        var pid: Int32 = 0
        let guestKiB = Double(memoryMiB) * 1024
        let timeout = timeoutSeconds
        result.status = try LineStreamingProcess.run(
            arguments,
            onStart: { process in
                pid = process.processIdentifier
                let reference = BootBenchProcess(process)
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                    if reference.process.isRunning { reference.process.terminate() }
                }
            }
        ) { line in
            guard result.readySeconds == nil, line.contains(GuestCommandLine.readyMarker) else { return }
            result.readySeconds = Date().timeIntervalSince(started)
            if let idleSample {
                Thread.sleep(forTimeInterval: idleSample)
                result.overheadKiB = Self.overheadKiB(pid: pid, guestKiB: guestKiB)
            }
        }
        return result
    }

    /// RSS (KiB) of every mapping of `pid` smaller than 90% of guest RAM: the VMM's own
    /// memory. Guest RAM is one large anonymous mapping per region in both VMMs.
    public static func overheadKiB(pid: Int32, guestKiB: Double) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/smaps", encoding: .utf8) else { return nil }
        return overheadKiB(smaps: text, guestKiB: guestKiB)
    }

    /// The same, from smaps text.
    public static func overheadKiB(smaps: String, guestKiB: Double) -> Double {
        var total = 0.0
        var size = 0.0
        for line in smaps.split(separator: "\n") {
            if line.hasPrefix("Size:") {
                size = Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0
            } else if line.hasPrefix("Rss:"), size < guestKiB * 0.9 {
                total += Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0
            }
        }
        return total
    }

    /// `runs` alternating boots of each VMM to the marker; medians and ratio (QEMU / ours).
    public func bootReport(runs: Int, progress: (String) -> Void) throws -> BenchReport {
        var ours: [Double] = []
        var peer: [Double] = []
        var failures: [String] = []
        for run in 0..<runs {
            let mine = try sample(ourArguments(command: "true"))
            let theirs = try sample(try qemuArguments(command: "true"))
            if let seconds = mine.readySeconds { ours.append(seconds) } else { failures.append("ours run \(run)") }
            if let seconds = theirs.readySeconds { peer.append(seconds) } else { failures.append("qemu run \(run)") }
            progress(
                "boot \(run + 1)/\(runs): integration-vmm \(Self.show(mine.readySeconds)) s, "
                    + "qemu \(Self.show(theirs.readySeconds)) s")
        }
        var notes = [
            "\(runs) alternating boots each, \(memoryMiB) MiB, \(cpus) vCPU, process start to VMM-GUEST-READY",
            "kernel \(assets.kernel.path), initramfs \(assets.initramfs?.path ?? "-")",
            "cmdline: \(commandLine)",
            "ours min/max \(Self.show(ours.min()))/\(Self.show(ours.max())) s, qemu \(Self.show(peer.min()))/\(Self.show(peer.max())) s",
        ]
        if !failures.isEmpty { notes.append("no marker: \(failures.joined(separator: ", "))") }
        let result = BenchResult(
            name: "boot-to-userspace", unit: "s", ours: BenchEnvironment.median(ours),
            peer: peer.isEmpty ? nil : BenchEnvironment.median(peer), peerName: Self.qemuVersion(),
            higherIsBetter: false, goal: 1 / 0.7, notes: notes)
        return BenchReport(area: "boot", results: [result])
    }

    static func show(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "n/a" }

    /// `qemu-system-x86_64 <version>`.
    static func qemuVersion() -> String {
        var version = "QEMU microvm"
        _ = try? LineStreamingProcess.run(["qemu-system-x86_64", "--version"]) { line in
            if line.hasPrefix("QEMU emulator version ") {
                version = "QEMU microvm " + line.dropFirst("QEMU emulator version ".count).prefix { $0 != " " }
            }
        }
        return version
    }
}

/// `Process` is thread-safe for `isRunning` and `terminate()`, which is all the timer uses.
private struct BootBenchProcess: @unchecked Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}
