// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets

/// `vmm-tools bench io`: block I/O measured inside the guest, integration-vmm's virtio-blk
/// against QEMU microvm's, on the same raw disk file with the same kernel and initramfs; then
/// the vhost-user back-ends: integration-vmm with the disk served by qemu-storage-daemon
/// (against QEMU's in-process disk), and the project's `vhost-device-blk` against
/// qemu-storage-daemon under each front-end (integration-vmm, QEMU), all in the same runs.
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

    /// integration-vmm's arguments with the scratch disk served by qemu-storage-daemon
    /// (vhost-user-blk on `socket`) instead of the in-process virtio-blk.
    public func vhostUserArguments(tools: String, socket: String) throws -> [String] {
        let boot = BootBench(vmm: vmm, assets: assets)
        return try boot.ourArguments(command: guestCommand) + [
            "--vhost-user-blk", "socket=\(socket)", "--block", "path=\(tools),readonly=on",
        ]
    }

    /// QEMU's vhost-user-blk back-end.
    public static let storageDaemon = "/usr/bin/qemu-storage-daemon"

    /// Starts qemu-storage-daemon exporting `scratch` on `socket` and waits for the socket.
    static func startStorageDaemon(scratch: String, socket: String) throws -> Process {
        try startDaemon(
            URL(fileURLWithPath: storageDaemon),
            [
                "--blockdev", "driver=file,node-name=scratch,filename=\(scratch),cache.direct=off,aio=threads",
                "--export",
                "type=vhost-user-blk,id=scratch,node-name=scratch,addr.type=unix,addr.path=\(socket),writable=on",
            ], socket: socket)
    }

    /// Starts a vhost-user back-end and waits (up to 20 s) for it to listen on `socket`.
    static func startDaemon(_ binary: URL, _ arguments: [String], socket: String) throws -> Process {
        try? FileManager.default.removeItem(atPath: socket)
        let daemon = Process()
        daemon.executableURL = binary
        daemon.arguments = arguments
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: socket) {
            guard daemon.isRunning, Date() < deadline else {
                daemon.terminate()
                throw GuestAssetsError("\(binary.lastPathComponent) did not listen on \(socket)")
            }
            usleep(20_000)
        }
        return daemon
    }

    /// The project's vhost-user-blk daemon, built beside integration-vmm (nil when it is not).
    public var ourDaemon: URL? {
        let daemon = vmm.deletingLastPathComponent().appendingPathComponent("vhost-device-blk")
        return FileManager.default.isExecutableFile(atPath: daemon.path) ? daemon : nil
    }

    /// Starts the project's `vhost-device-blk` on `scratch` (host page cache, as
    /// qemu-storage-daemon's `cache.direct=off`) and waits for the socket.
    static func startOurDaemon(_ binary: URL, scratch: String, socket: String) throws -> Process {
        try startDaemon(binary, ["--socket-path", socket, "--image", scratch], socket: socket)
    }

    /// The vhost-user-blk back-end of a run.
    public enum Backend: Sendable { case storageDaemon, ourDaemon }
    /// The front-end of a vhost-user-blk run.
    public enum Frontend: Sendable { case integrationVMM, qemu }

    /// One vhost-user-blk run: a daemon for this run only, killed afterwards (on SIGTERM
    /// qemu-storage-daemon waits for its clients, which are gone by then, so SIGKILL only saves time).
    func vhostUserSample(
        tools: String, scratch: String, folder: URL, backend: Backend = .storageDaemon,
        frontend: Frontend = .integrationVMM
    ) throws -> [String: Double] {
        let socket = folder.appendingPathComponent("blk.sock").path
        let daemon: Process
        switch backend {
        case .storageDaemon: daemon = try Self.startStorageDaemon(scratch: scratch, socket: socket)
        case .ourDaemon:
            guard let binary = ourDaemon else {
                throw GuestAssetsError("vhost-device-blk is not built beside \(vmm.path)")
            }
            daemon = try Self.startOurDaemon(binary, scratch: scratch, socket: socket)
        }
        defer {
            kill(daemon.processIdentifier, SIGKILL)
            daemon.waitUntilExit()
        }
        switch frontend {
        case .integrationVMM: return try sample(try vhostUserArguments(tools: tools, socket: socket))
        case .qemu: return try sample(try qemuVhostUserArguments(tools: tools, socket: socket))
        }
    }

    /// QEMU's arguments with the scratch disk on vhost-user-blk at `socket`: RAM in a shared
    /// memfd and modern virtio-mmio (libvhost-user back-ends refuse legacy devices).
    public func qemuVhostUserArguments(tools: String, socket: String) throws -> [String] {
        let boot = BootBench(vmm: vmm, assets: assets)
        var arguments = try boot.qemuArguments(command: guestCommand)
        guard let machine = arguments.firstIndex(where: { $0.hasPrefix("microvm") }) else {
            throw GuestAssetsError("QEMU's arguments name no microvm machine")
        }
        arguments[machine] += ",memory-backend=mem"
        return arguments + [
            "-object", "memory-backend-memfd,id=mem,size=\(boot.memoryMiB)M,share=on",
            "-global", "virtio-mmio.force-legacy=false",
            "-chardev", "socket,id=scratch,path=\(socket)", "-device", "vhost-user-blk,chardev=scratch,num-queues=1",
            "-drive", "id=tools,file=\(tools),format=raw,if=none,readonly=on",
            "-device", "virtio-blk-device,drive=tools",
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
        var vhost: [String: [Double]] = [:]
        var daemonOurs: [Frontend: [String: [Double]]] = [:]
        var daemonStorage: [Frontend: [String: [Double]]] = [:]
        let daemonPresent = FileManager.default.isExecutableFile(atPath: Self.storageDaemon)
        func show(_ figures: [String: Double]) -> String {
            Self.figures.map { "\($0) \(BootBench.show(figures[$0]))" }.joined(separator: ", ")
        }
        for run in 0..<runs {
            let (tools, scratch) = try prepare(in: folder)
            let mine = try sample(try ourArguments(tools: tools, scratch: scratch))
            let (_, scratchAgain) = try prepare(in: folder)
            let theirs = try sample(try qemuArguments(tools: tools, scratch: scratchAgain))
            var served: [String: Double] = [:]
            if daemonPresent {
                let (_, scratchThird) = try prepare(in: folder)
                served = try vhostUserSample(tools: tools, scratch: scratchThird, folder: folder)
            }
            for (name, value) in mine { ours[name, default: []].append(value) }
            for (name, value) in theirs { peer[name, default: []].append(value) }
            for (name, value) in served { vhost[name, default: []].append(value) }
            progress(
                "io \(run + 1)/\(runs): integration-vmm \(show(mine)); qemu \(show(theirs))"
                    + (daemonPresent ? "; integration-vmm + vhost-user-blk \(show(served))" : ""))
            // Our daemon against qemu-storage-daemon, under each front-end.
            guard daemonPresent, ourDaemon != nil else { continue }
            for frontend in [Frontend.integrationVMM, .qemu] {
                func measure(_ backend: Backend) throws -> [String: Double] {
                    let (_, scratch) = try prepare(in: folder)
                    return try vhostUserSample(
                        tools: tools, scratch: scratch, folder: folder, backend: backend, frontend: frontend)
                }
                // Under integration-vmm, qemu-storage-daemon's figures are the run's third column;
                // under QEMU the two daemons take turns going first, so drift within a run is shared.
                var withOurs: [String: Double] = [:]
                var withStorage = served
                if frontend == .qemu && run % 2 == 1 { withStorage = try measure(.storageDaemon) }
                withOurs = try measure(.ourDaemon)
                if frontend == .qemu && run % 2 == 0 { withStorage = try measure(.storageDaemon) }
                for (name, value) in withOurs { daemonOurs[frontend, default: [:]][name, default: []].append(value) }
                for (name, value) in withStorage {
                    daemonStorage[frontend, default: [:]][name, default: []].append(value)
                }
                progress(
                    "io \(run + 1)/\(runs): \(frontend == .qemu ? "qemu" : "integration-vmm") + vhost-device-blk "
                        + "\(show(withOurs)); + qemu-storage-daemon \(show(withStorage))")
            }
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
        // The vhost-user-blk column: integration-vmm with qemu-storage-daemon serving the disk,
        // beside QEMU (the ratio) and beside the in-process device (in the notes).
        let served = Self.figures.compactMap { name -> BenchResult? in
            let unit = name.hasSuffix("1MiB") ? "MiB/s" : "IOPS"
            let values = vhost[name] ?? []
            guard !values.isEmpty else { return nil }
            let median = BenchEnvironment.median(values)
            let inProcess = BenchEnvironment.median(ours[name] ?? [])
            let share = inProcess > 0 ? String(format: "%.2f", median / inProcess) : "n/a"
            let theirs = peer[name] ?? []
            return BenchResult(
                name: "vhost-user-blk-" + name, unit: unit, ours: median,
                peer: theirs.isEmpty ? nil : BenchEnvironment.median(theirs), peerName: qemu, higherIsBetter: true,
                notes: [
                    "integration-vmm + qemu-storage-daemon (vhost-user-blk, same disk file setup), \(values.count) runs",
                    "ratio to integration-vmm's in-process virtio-blk in the same runs: \(share)",
                ])
        }
        // vhost-device-blk against qemu-storage-daemon, the same front-end on both sides.
        let daemons = [Frontend.integrationVMM, .qemu].flatMap { frontend in
            Self.figures.compactMap { name -> BenchResult? in
                let mine = daemonOurs[frontend]?[name] ?? []
                let theirs = daemonStorage[frontend]?[name] ?? []
                guard !mine.isEmpty else { return nil }
                let front = frontend == .qemu ? "qemu" : "integration-vmm"
                return BenchResult(
                    name: "vhost-device-blk-\(front)-" + name, unit: name.hasSuffix("1MiB") ? "MiB/s" : "IOPS",
                    ours: BenchEnvironment.median(mine), peer: theirs.isEmpty ? nil : BenchEnvironment.median(theirs),
                    peerName: "qemu-storage-daemon", higherIsBetter: true, goal: 1.0,
                    notes: [
                        "\(front) as the front-end of both daemons; \(mine.count) runs of ours, \(theirs.count) of qemu-storage-daemon's",
                        "both on the host page cache (vhost-device-blk without --direct, qemu-storage-daemon cache.direct=off)",
                        frontend == .qemu
                            ? "the daemons take turns going first, run by run"
                            : "qemu-storage-daemon's figures are the run's integration-vmm + vhost-user-blk column",
                    ])
            }
        }
        var report = BenchReport(area: "io", results: results + served + daemons)
        if !daemonPresent {
            report.results[0].notes.append("\(Self.storageDaemon) is missing: no vhost-user-blk column")
        } else if ourDaemon == nil {
            report.results[0].notes.append("vhost-device-blk is not built beside integration-vmm: no daemon rows")
        }
        return report
    }
}

/// `Process` is thread-safe for `isRunning` and `terminate()`, which is all the timer uses.
private struct IOBenchProcess: @unchecked Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}
