// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets
import Testing

@testable import VMMToolsKit

/// A fake machine: a repository next to a `shared/guest` folder, and a cache.
private struct LookupFixture {
    let top: URL
    var repository: URL { top.appendingPathComponent("main") }
    var shared: URL { top.appendingPathComponent("shared/guest") }
    var cache: GuestCache { GuestCache(root: top.appendingPathComponent("cache")) }

    init() throws {
        top = try guestTemporaryFolder()
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
    }

    func file(_ url: URL, _ text: String = "x") throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// A cache entry; complete entries get the marker with modification time `age` seconds ago.
    @discardableResult
    func entry(_ name: String, complete: Bool = true, age: TimeInterval = 0, cmdline: String? = nil) throws -> URL {
        let folder = cache.root.appendingPathComponent(name)
        try file(folder.appendingPathComponent(name.hasPrefix("initramfs") ? "initramfs.cpio" : "vmlinux"))
        if let cmdline { try file(folder.appendingPathComponent("cmdline"), cmdline + "\n") }
        if complete {
            let marker = folder.appendingPathComponent(GuestCache.completeMarker)
            try file(marker)
            try FileManager.default.setAttributes(
                [.modificationDate: Date().addingTimeInterval(-age)], ofItemAtPath: marker.path)
        }
        return folder
    }

    func locate(
        kernel: String? = nil, initramfs: String? = nil, flavor: GuestFlavor = .pvm, environment: [String: String] = [:]
    ) throws(GuestAssetsError) -> GuestAssets {
        try GuestAssets.locate(
            kernelPath: kernel, initramfsPath: initramfs, flavor: flavor, environment: environment, cache: cache,
            repositoryRoot: repository)
    }

    func remove() { try? FileManager.default.removeItem(at: top) }
}

@Suite struct GuestAssetsLookupTests {
    @Test func explicitPathBeatsEnvironmentBeatsCacheBeatsShared() throws {
        let fixture = try LookupFixture()
        defer { fixture.remove() }
        let explicit = fixture.top.appendingPathComponent("mine/vmlinux")
        let fromEnvironment = fixture.top.appendingPathComponent("env/vmlinux")
        try fixture.file(explicit)
        try fixture.file(fromEnvironment)
        try fixture.file(fixture.shared.appendingPathComponent("vmlinux-6.12-pvmcompat"))
        let cached = try fixture.entry("pvm-0123456789abcdef", cmdline: "console=ttyS0 custom")
        let environment = ["VMM_GUEST_KERNEL": fromEnvironment.path]

        let first = try fixture.locate(kernel: explicit.path, environment: environment)
        #expect(first.kernel.path == explicit.path && first.origin == .explicit)
        let second = try fixture.locate(environment: environment)
        #expect(second.kernel.path == fromEnvironment.path && second.origin == .explicit)
        let third = try fixture.locate()
        #expect(third.kernel.path == cached.appendingPathComponent("vmlinux").path && third.origin == .cache)
        #expect(third.commandLine == "console=ttyS0 custom")
        try FileManager.default.removeItem(at: cached)
        let fourth = try fixture.locate()
        #expect(fourth.origin == .shared && fourth.kernel.lastPathComponent == "vmlinux-6.12-pvmcompat")
        #expect(fourth.commandLine.contains("kvmpvm_compat"))
    }

    @Test func newestCompleteEntryOfTheRightFlavorWins() throws {
        let fixture = try LookupFixture()
        defer { fixture.remove() }
        try fixture.entry("pvm-old", age: 600)
        let newest = try fixture.entry("pvm-new", age: 10)
        try fixture.entry("pvm-unfinished", complete: false)
        try fixture.entry("standard-newer", age: 0)
        #expect(try fixture.locate().kernel.deletingLastPathComponent().path == newest.path)
        #expect(try fixture.locate(flavor: .standard).kernel.path.contains("standard-newer"))
    }

    @Test func initramfsLookupIsIndependentOfTheKernel() throws {
        let fixture = try LookupFixture()
        defer { fixture.remove() }
        try fixture.entry("pvm-k")
        #expect(try fixture.locate().initramfs == nil)
        let cached = try fixture.entry("initramfs-aaaa")
        #expect(try fixture.locate().initramfs?.path == cached.appendingPathComponent("initramfs.cpio").path)
        let mine = fixture.top.appendingPathComponent("my.cpio")
        try fixture.file(mine)
        #expect(try fixture.locate(environment: ["VMM_GUEST_INITRAMFS": mine.path]).initramfs?.path == mine.path)
    }

    @Test func missingThingsAreTypedErrorsThatSayWhereItLooked() throws {
        let fixture = try LookupFixture()
        defer { fixture.remove() }
        #expect(throws: GuestAssetsError.self) { try fixture.locate(kernel: "/nonexistent/vmlinux") }
        do {
            _ = try fixture.locate(flavor: .standard)
            Issue.record("expected no standard kernel")
        } catch {
            #expect(error.description.contains("guest kernel --flavor standard"))
            #expect(error.description.contains(fixture.cache.root.path))
        }
        // The shared folder holds a PVM kernel only; a standard lookup must not use it.
        try fixture.file(fixture.shared.appendingPathComponent("vmlinux-6.12-pvmcompat"))
        #expect(throws: GuestAssetsError.self) { try fixture.locate(flavor: .standard) }
        #expect(try fixture.locate(flavor: .pvm).origin == .shared)
    }

    @Test func theSharedFolderIsAnOptionalLastFallbackThatCanBeHidden() throws {
        let fixture = try LookupFixture()
        defer { fixture.remove() }
        try fixture.file(fixture.shared.appendingPathComponent("vmlinux-6.12-pvmcompat"))
        try fixture.file(fixture.shared.appendingPathComponent("bzImage-6.12-pvmcompat"))
        let shared = try fixture.locate()
        #expect(shared.origin == .shared)
        #expect(shared.bzImage?.lastPathComponent == "bzImage-6.12-pvmcompat")
        for hidden in ["1", "yes"] {
            do {
                _ = try fixture.locate(environment: [GuestAssets.noSharedVariable: hidden])
                Issue.record("\(GuestAssets.noSharedVariable)=\(hidden) still found ../shared")
            } catch {
                #expect(!error.description.contains("shared"), "\(error)")
                #expect(error.description.contains("guest kernel --flavor pvm"))
            }
        }
        // "0" and empty mean "not hidden"; a cache entry beats the shared folder either way.
        #expect(try fixture.locate(environment: [GuestAssets.noSharedVariable: "0"]).origin == .shared)
        let cached = try fixture.entry("pvm-0123")
        let found = try fixture.locate(environment: [GuestAssets.noSharedVariable: "1"])
        #expect(found.origin == .cache && found.bzImage == nil)
        try fixture.file(cached.appendingPathComponent("bzImage"))
        #expect(try fixture.locate().bzImage?.path == cached.appendingPathComponent("bzImage").path)
    }

    @Test func cacheRootComesFromTheEnvironment() {
        #expect(GuestCache(environment: ["VMM_GUEST_CACHE": "/c"]).root.path == "/c")
        #expect(GuestCache(environment: ["HOME": "/h"]).root.path == "/h/.cache/swift-vmm/guest")
        #expect(GuestCache(root: URL(fileURLWithPath: "/c")).entry(flavor: .pvm, key: "ab").path == "/c/pvm-ab")
    }

    @Test func flavorFollowsTheKvmPvmModule() throws {
        let folder = try guestTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(GuestFlavor.forHost(moduleDirectory: folder.path) == .standard)
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("kvm_pvm"), withIntermediateDirectories: true)
        #expect(GuestFlavor.forHost(moduleDirectory: folder.path) == .pvm)
    }
}

@Suite struct GuestCommandLineTests {
    @Test func commandIsAParameterAndQuotesAreRejected() throws {
        #expect(
            try GuestCommandLine.running("echo a; exit 3", after: "console=ttyS0")
                == "console=ttyS0 vmm.cmd=\"echo a; exit 3\"")
        #expect(throws: GuestAssetsError.self) { try GuestCommandLine.running("echo \"x\"", after: "") }
        #expect(throws: GuestAssetsError.self) { try GuestCommandLine.running("a\nb", after: "") }
    }

    @Test func interactiveShellIsOneParameter() {
        #expect(GuestCommandLine.interactive(after: "console=ttyS0 quiet") == "console=ttyS0 quiet vmm.shell")
    }

    @Test func firstContactReadsTheBuildTimeAndTheGuestRelease() {
        let output = """
            bootstrap: all 27 Debian packages present
            integration-vmm: no pvm guest kernel yet; building it ...
            integration-vmm: kernel: built pvm 0123 in 4m2s
            integration-vmm: guest assets ready in 4m5s (245 s)
            6.12.57
            """
        let report = FirstContact.Report(output: output)
        #expect(report.buildSeconds == 245)
        #expect(report.guestRelease == "6.12.57")
        let warm = FirstContact.Report(output: "bootstrap: ok\n6.1.0-28-cloud-amd64\n")
        #expect(warm.buildSeconds == nil && warm.guestRelease == "6.1.0-28-cloud-amd64")
        #expect(FirstContact.Report(output: "Building for debugging...\n[3/4] Linking 6.1\n").guestRelease == nil)
        #expect(!FirstContact.Report.isRelease("1. done") && !FirstContact.Report.isRelease(".12"))
    }

    @Test func exitStatusIsReadFromTheMarkerLine() {
        #expect(GuestCommandLine.exitStatus(inConsoleOutput: "boot\r\nVMM-GUEST-EXIT status=42\r\n") == 42)
        #expect(GuestCommandLine.exitStatus(inConsoleOutput: "VMM-GUEST-READY uptime=1.0\n") == nil)
        #expect(GuestCommandLine.exitStatus(inConsoleOutput: "VMM-GUEST-EXIT status=\n") == nil)
    }

    @Test func medianAndQemuArguments() throws {
        #expect(GuestBootCheck.median([3, 1, 2]) == 2)
        #expect(GuestBootCheck.median([4, 1, 2, 3]) == 2.5)
        #expect(GuestBootCheck.median([]) == nil)
        var check = GuestBootCheck(
            kernel: URL(fileURLWithPath: "/k"), initramfs: URL(fileURLWithPath: "/i"), commandLine: "console=ttyS0")
        check.network = true
        let arguments = try check.qemuArguments(command: "true")
        #expect(arguments.starts(with: ["qemu-system-x86_64", "-enable-kvm", "-cpu"]))
        #expect(arguments.contains("microvm,acpi=off") && arguments.contains("virtio-net-device,netdev=net0"))
        #expect(arguments.last == "console=ttyS0 vmm.cmd=\"true\"")
    }
}
