// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets
import Testing

@testable import VMMToolsKit

@Suite struct BootBenchTests {
    let assets = GuestAssets(
        kernel: URL(fileURLWithPath: "/k/vmlinux"), initramfs: URL(fileURLWithPath: "/k/initramfs.cpio"),
        flavor: .pvm, origin: .explicit, commandLine: "console=ttyS0 quiet")

    @Test func bothVMMsGetTheSameGuestAndParameters() throws {
        var bench = BootBench(vmm: URL(fileURLWithPath: "/bin/integration-vmm"), assets: assets)
        bench.memoryMiB = 512
        bench.cpus = 2
        #expect(bench.commandLine == "console=ttyS0 quiet acpi=off")
        let ours = try bench.ourArguments(command: "true")
        #expect(ours.first == "/bin/integration-vmm")
        #expect(ours.contains(#"path=/k/vmlinux,cmdline=console=ttyS0 quiet acpi=off vmm.cmd="true""#))
        #expect(!ours.contains("--command"))  // --command would hide the marker line
        #expect(ours.contains("size_mib=512") && ours.contains("/k/initramfs.cpio"))
        let qemu = try bench.qemuArguments(command: "true")
        #expect(qemu.first == "qemu-system-x86_64")
        #expect(qemu.contains("512M") && qemu.contains("/k/vmlinux") && qemu.contains("/k/initramfs.cpio"))
        #expect(qemu.last?.hasPrefix("console=ttyS0 quiet acpi=off vmm.cmd=") == true)
    }

    @Test func overheadSkipsGuestSizedMappings() {
        let smaps = """
            00400000-00500000 r-xp 00000000 08:01 1 /bin/vmm
            Size:               1024 kB
            Rss:                 800 kB
            7f0000000000-7f0010000000 rw-p 00000000 00:00 0
            Size:             262144 kB
            Rss:              120000 kB
            7f1000000000-7f1000100000 rw-p 00000000 00:00 0
            Size:               1024 kB
            Rss:                 200 kB
            """
        #expect(BootBench.overheadKiB(smaps: smaps, guestKiB: 262144) == 1000)
    }

    @Test func sampleTimesTheMarkerAndReadsSmapsOfTheLiveProcess() throws {
        let bench = BootBench(vmm: URL(fileURLWithPath: "/bin/sh"), assets: assets)
        let sample = try bench.sample(
            ["/bin/sh", "-c", "echo booting; echo \(GuestCommandLine.readyMarker) uptime=1; sleep 1"],
            idleSample: 0.1)
        #expect(sample.status == 0)
        #expect((sample.readySeconds ?? -1) >= 0)
        #expect((sample.overheadKiB ?? 0) > 0)  // the shell's own mappings
        let none = try bench.sample(["/bin/sh", "-c", "echo no marker"])
        #expect(none.readySeconds == nil && none.overheadKiB == nil)
    }
}
