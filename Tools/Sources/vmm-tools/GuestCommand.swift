// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import Foundation
import GuestAssets
import VMMToolsKit

/// Flavor names on the command line; `auto` asks the host.
enum FlavorChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, pvm, standard

    var resolved: GuestFlavor {
        switch self {
        case .auto: return .forHost()
        case .pvm: return .pvm
        case .standard: return .standard
        }
    }
}

/// `vmm-tools guest`: guest kernels and initramfs for integration tests, cached per machine.
struct Guest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prepare guest kernels and the initramfs (cached outside the repo) and boot-check them.",
        discussion: """
            Without a subcommand: prepares the host's kernel flavor and the initramfs.
            Cache: $VMM_GUEST_CACHE, else ~/.cache/swift-vmm/guest. See ci/guest/README.md.
            """,
        subcommands: [GuestPrepare.self, GuestKernel.self, GuestInitramfs.self, GuestCheck.self],
        defaultSubcommand: GuestPrepare.self)
}

struct GuestPrepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare", abstract: "Prepare the host's kernel flavor and the initramfs.")

    @OptionGroup var options: WorkspaceOptions
    @Option(help: "Kernel flavor: auto (pvm when /sys/module/kvm_pvm exists), pvm or standard.")
    var flavor: FlavorChoice = .auto

    func run() throws {
        let workspace = try options.workspace()
        let cache = GuestCache()
        do {
            let entry = try KernelBuilder(workspaceRoot: workspace.root, cache: cache, log: say).prepare(
                flavor.resolved)
            let initramfs = try InitramfsBuilder.fromWorkspace(workspace.root).build(into: cache, log: say)
            say("guest: kernel \(entry.appendingPathComponent(GuestAssets.kernelFileName).path)")
            say("guest: initramfs \(initramfs.path)")
        } catch {
            throw fail("guest: \(error)")
        }
    }
}

struct GuestKernel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel", abstract: "Build (pvm) or download (standard) the guest kernel into the cache.")

    @OptionGroup var options: WorkspaceOptions
    @Option(help: "Kernel flavor: auto (pvm when /sys/module/kvm_pvm exists), pvm or standard.")
    var flavor: FlavorChoice = .auto
    @Option(help: "make -j jobs (default: processor count).") var jobs: Int?

    func run() throws {
        let workspace = try options.workspace()
        do {
            let builder = KernelBuilder(workspaceRoot: workspace.root, cache: GuestCache(), jobs: jobs, log: say)
            let entry = try builder.prepare(flavor.resolved)
            say("guest: kernel \(entry.appendingPathComponent(GuestAssets.kernelFileName).path)")
        } catch {
            throw fail("guest kernel: \(error)")
        }
    }
}

struct GuestInitramfs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "initramfs", abstract: "Build the busybox initramfs (uncompressed cpio) into the cache.")

    @OptionGroup var options: WorkspaceOptions
    @Option(help: "Static busybox to pack.") var busybox = "/bin/busybox"

    func run() throws {
        let workspace = try options.workspace()
        do {
            let output = try InitramfsBuilder.fromWorkspace(workspace.root, busyboxPath: busybox)
                .build(into: GuestCache(), log: say)
            say("guest: initramfs \(output.path)")
        } catch {
            throw fail("guest initramfs: \(error)")
        }
    }
}

struct GuestCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract:
            "Boot the guest in QEMU (microvm, KVM) N times to the userspace marker; print each time and the median.")

    @OptionGroup var options: WorkspaceOptions
    @Option(help: "Number of boots.") var boots = 5
    @Option(help: "Kernel flavor to look up.") var flavor: FlavorChoice = .auto
    @Option(help: "Kernel (default: VMM_GUEST_KERNEL, the cache, optionally ../shared/guest).") var kernel: String?
    @Option(help: "Initramfs (default: VMM_GUEST_INITRAMFS, the cache; built if missing).") var initramfs: String?
    @Option(help: "Command the guest runs; its exit status must be 0.") var command = "true"
    @Option(help: "Guest memory in MiB.") var memory = 128
    @Option(help: "vCPUs.") var cpus = 1
    @Flag(help: "Attach a virtio-net device (QEMU user networking).") var net = false
    @Option(help: "Extra kernel parameters (e.g. initcall_debug).") var append: String?
    @Option(help: "Seconds before one boot is stopped.") var timeout: Double = 600
    @Flag(help: "Print every console line with its wall time.") var verbose = false

    func run() throws {
        let workspace = try options.workspace()
        let assets: GuestAssets
        var initramfsURL: URL
        do {
            assets = try GuestAssets.locate(
                kernelPath: kernel, initramfsPath: initramfs, flavor: flavor.resolved,
                repositoryRoot: workspace.root)
            if let found = assets.initramfs {
                initramfsURL = found
            } else {
                initramfsURL = try InitramfsBuilder.fromWorkspace(workspace.root).build(into: GuestCache(), log: say)
            }
        } catch {
            throw fail("guest check: \(error)")
        }
        var check = GuestBootCheck(
            kernel: assets.kernel, initramfs: initramfsURL,
            commandLine: assets.commandLine + (append.map { " " + $0 } ?? ""))
        check.memoryMiB = memory
        check.cpus = cpus
        check.network = net
        check.timeoutSeconds = timeout
        say("guest check: kernel \(assets.kernel.path) (\(assets.origin.rawValue))")
        say("guest check: initramfs \(initramfsURL.path)")
        say("guest check: cmdline \(check.commandLine); \(cpus) vCPU, \(memory) MiB\(net ? ", virtio-net" : "")")
        let echo: ((String) -> Void)? = verbose ? { say($0) } : nil
        var times: [Double] = []
        var failures = 0
        for index in 1...max(1, boots) {
            let result: GuestBootResult
            do {
                result = try check.boot(command: command, echo: echo)
            } catch {
                throw fail("guest check: \(error)")
            }
            let ready = result.readySeconds.map { String(format: "%.2f s", $0) } ?? "never"
            let uptime = result.guestUptime.map { String(format: "%.2f s", $0) } ?? "-"
            say(
                "boot \(index): userspace marker \(ready) (guest uptime \(uptime)), exit \(String(format: "%.2f s", result.totalSeconds)), command status \(result.commandStatus.map(String.init) ?? "none"), qemu \(result.qemuStatus)\(result.timedOut ? ", TIMED OUT" : "")"
            )
            for problem in result.problems.prefix(5) { say("  console: \(problem)") }
            if result.succeeded && result.commandStatus == 0, let seconds = result.readySeconds {
                times.append(seconds)
            } else {
                failures += 1
            }
        }
        if let median = GuestBootCheck.median(times) {
            say(
                String(
                    format:
                        "guest check: median %.2f s to the userspace marker over %d boots (min %.2f, max %.2f), %d failed",
                    median, times.count, times.min()!, times.max()!, failures))
        }
        if failures > 0 { throw fail("guest check: \(failures) of \(boots) boots failed") }
    }
}
