// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets
import Testing

@testable import VMMToolsKit

@Suite struct IOBenchTests {
    let assets = GuestAssets(
        kernel: URL(fileURLWithPath: "/k/vmlinux"), initramfs: URL(fileURLWithPath: "/k/initramfs.cpio"),
        flavor: .pvm, origin: .explicit, commandLine: "console=ttyS0 quiet")
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("IntegrationVMM/GuestTools/vmm-guest-tool.c")

    @Test func guestLinesParseAndOthersDoNot() {
        #expect(
            IOBench.parse("BENCH-IO seq-write-1MiB 123.456 MiB/s (64 MiB in 0.5 s)")! == ("seq-write-1MiB", 123.456))
        #expect(
            IOBench.parse("[  3.2] x BENCH-IO rand-read-4KiB 812.0 IOPS (2000 ops in 2.4 s)")! == (
                "rand-read-4KiB", 812
            ))
        #expect(IOBench.parse("BENCH-IO something-else 1.0 MiB/s") == nil)
        #expect(IOBench.parse("BENCH-IO seq-read-1MiB fast") == nil)
        #expect(IOBench.parse("VMM-GUEST-READY uptime=3") == nil)
    }

    @Test func bothVMMsGetTheSameDisksAndWorkload() throws {
        var bench = IOBench(vmm: URL(fileURLWithPath: "/bin/integration-vmm"), assets: assets, toolSource: source)
        bench.mebibytes = 32
        bench.randomOperations = 100
        #expect(bench.guestCommand.contains("bench-io /dev/$s 32 100"))
        let ours = try bench.ourArguments(tools: "/w/tools.img", scratch: "/w/scratch.img")
        #expect(ours.contains("path=/w/scratch.img") && ours.contains("path=/w/tools.img,readonly=on"))
        let qemu = try bench.qemuArguments(tools: "/w/tools.img", scratch: "/w/scratch.img")
        #expect(
            qemu.filter { $0 == "virtio-blk-device,drive=scratch" || $0 == "virtio-blk-device,drive=tools" }.count == 2)
        #expect(qemu.contains { $0.contains("file=/w/scratch.img") && $0.contains("cache=writeback") })
        #expect(qemu.contains { $0.contains("file=/w/tools.img") && $0.contains("readonly=on") })
    }

    /// QEMU as a vhost-user front-end: shared memfd RAM the size of the guest's, modern
    /// virtio-mmio, the scratch disk on the socket, the tools disk still in-process.
    @Test func qemuAsAVhostUserFrontEndSharesItsMemory() throws {
        let bench = IOBench(vmm: URL(fileURLWithPath: "/bin/integration-vmm"), assets: assets, toolSource: source)
        let qemu = try bench.qemuVhostUserArguments(tools: "/w/tools.img", socket: "/w/blk.sock")
        #expect(qemu.contains("microvm,acpi=off,memory-backend=mem"))
        #expect(qemu.contains("memory-backend-memfd,id=mem,size=256M,share=on"))
        #expect(qemu.contains("virtio-mmio.force-legacy=false"))
        #expect(qemu.contains("socket,id=scratch,path=/w/blk.sock"))
        #expect(qemu.contains("vhost-user-blk,chardev=scratch,num-queues=1"))
        #expect(!qemu.contains { $0.contains("scratch.img") })
        let ours = try bench.vhostUserArguments(tools: "/w/tools.img", socket: "/w/blk.sock")
        #expect(ours.contains("socket=/w/blk.sock"))
        // No daemon beside /bin/integration-vmm: the daemon rows are left out, not faked.
        #expect(bench.ourDaemon == nil)
    }

    /// A back-end is started and waited for until its socket appears; one that dies first is
    /// reported, not waited for.
    @Test func aDaemonIsWaitedForUntilItListens() throws {
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("io-bench-\(UUID()).sock").path
        defer { try? FileManager.default.removeItem(atPath: socket) }
        let shell = URL(fileURLWithPath: "/bin/sh")
        let daemon = try IOBench.startDaemon(
            shell, ["-c", "sleep 0.2; : > \"$0\"; exec sleep 30", socket], socket: socket)
        #expect(daemon.isRunning && FileManager.default.fileExists(atPath: socket))
        daemon.terminate()
        daemon.waitUntilExit()
        #expect(throws: GuestAssetsError.self) {
            try IOBench.startDaemon(shell, ["-c", "exit 3"], socket: socket + ".never")
        }
    }

    /// Builds the real guest tool and disk images (cc -static, mkfs.ext4 -d).
    @Test func prepareBuildsTheToolDiskAndTheScratchDisk() throws {
        var bench = IOBench(vmm: URL(fileURLWithPath: "/bin/integration-vmm"), assets: assets, toolSource: source)
        bench.mebibytes = 8
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("iobench-test-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (tools, scratch) = try bench.prepare(in: folder)
        let toolsSize = try FileManager.default.attributesOfItem(atPath: tools)[.size] as? Int
        let scratchSize = try FileManager.default.attributesOfItem(atPath: scratch)[.size] as? Int
        #expect(toolsSize == 16 << 20)  // the guest finds the tool disk by this size
        #expect(scratchSize == 24 << 20)
        #expect(
            FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent("tools/vmm-guest-tool").path))
        #expect(throws: GuestAssetsError.self) {
            var broken = bench
            broken.toolSource = folder.appendingPathComponent("missing.c")
            _ = try broken.prepare(in: folder)
        }
    }

    /// A stand-in guest (a shell printing what the guest tool prints) gives the figures.
    @Test func sampleCollectsTheFiguresAProcessPrints() throws {
        let bench = IOBench(vmm: URL(fileURLWithPath: "/bin/integration-vmm"), assets: assets, toolSource: source)
        let figures = try bench.sample([
            "/bin/sh", "-c",
            "echo 'BENCH-IO seq-write-1MiB 50.5 MiB/s (x)'; echo noise; echo 'BENCH-IO rand-read-4KiB 900.0 IOPS (y)'",
        ])
        #expect(figures == ["seq-write-1MiB": 50.5, "rand-read-4KiB": 900])
    }
}
