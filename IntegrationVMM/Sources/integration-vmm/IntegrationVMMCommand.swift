// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import Foundation
import GuestAssets
import IntegrationVMMAPI
import IntegrationVMMCore
import Seccompiler
import VMMSysUtil

/// `integration-vmm`: boots a Linux guest with the swift-vmm packages.
@main
struct IntegrationVMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "integration-vmm",
        abstract: "Boot a Linux guest on KVM with the swift-vmm packages (serial console on stdout).",
        discussion: """
            With no arguments it boots the default guest: the kernel and initramfs that `vmm-tools guest` \
            caches (~/.cache/swift-vmm/guest), built there on the first run when missing (about 4-6 minutes \
            for the PVM kernel). With a terminal on stdin the guest gives a root shell on the serial console \
            (Ctrl-C reaches the guest; `exit` or `poweroff` ends the VM; Ctrl-A X quits the VMM); without one \
            it boots, prints VMM-GUEST-READY and powers off. Exit status: 0 power-off/reboot/Ctrl-A X, \
            1 VMM error, 2 guest panic, 3 triple fault or hypervisor error, 128+N stopped by signal N; \
            with --command, the command's status.
            """)

    @Option(help: "Kernel: path=<vmlinux|bzImage>[,cmdline=<parameters>] (default: the project's guest kernel).")
    var kernel: String?

    @Option(help: "Initramfs (uncompressed cpio; default: the project's guest initramfs).")
    var initrd: String?

    @Option(help: "Guest RAM: size_mib=<N> (64 ... 1048576).")
    var memory: String = "size_mib=256"

    @Option(help: "Number of vCPUs.")
    var vcpus: Int = 1

    @Option(help: "Boot the default guest, run CMD in it, print its output and exit with its status.")
    var command: String?

    @Flag(help: "Add a virtio-rng device fed by the host's getrandom (the guest's /dev/hwrng).")
    var rng = false

    @Option(
        help: """
            Add a virtio-blk disk: path=<raw image>[,readonly=on][,direct=on][,id=<serial>]. Repeatable; \
            the guest sees /dev/vda, /dev/vdb, ... in the order given.
            """)
    var block: [String] = []

    @Option(help: "Add a virtio-net device on a tap interface: tap=<name>[,mac=<52:54:00:..>]. Repeatable.")
    var net: [String] = []

    @Option(help: "Add a virtio-vsock device: cid=<N>,uds=<path> (host sockets <path> and <path>_<port>).")
    var vsock: String?

    @Option(help: "Add a virtio-console (the guest's hvc0): output=<file> receives what the guest writes.")
    var console: String?

    @Option(
        help: """
            Add a virtio-blk disk a vhost-user back-end serves (qemu-storage-daemon --export type=vhost-user-blk): \
            socket=<path>[,queue-size=<N>]. Repeatable. Guest RAM is then shared (memfd).
            """)
    var vhostUserBlk: [String] = []

    @Option(
        help: """
            Add a virtio-fs share a vhost-user back-end serves (virtiofsd --socket-path=<path>): \
            socket=<path>,tag=<name>[,queue-size=<N>]; the guest mounts it with `mount -t virtiofs <name> <dir>`. \
            Repeatable.
            """)
    var vhostUserFs: [String] = []

    @Option(
        help: """
            Add any virtio device a vhost-user back-end serves: socket=<path>,device-id=<N>,queues=<N>\
            [,queue-size=<N>][,config-size=<bytes>] (config-size: read the back-end's configuration space). \
            Repeatable.
            """)
    var vhostUser: [String] = []

    @Option(
        help: """
            Serve a Firecracker-compatible control API (HTTP over a Unix socket at PATH: boot-source, \
            machine-config, drives, network-interfaces, vsock, actions, vm, snapshot/create, snapshot/load). \
            Alone, it waits to be configured and started through the API; with machine options it boots \
            them at once and serves the API (pause, resume, snapshots).
            """)
    var apiSock: String?

    @Option(
        help: """
            Restore the machine snapshotted in DIR (vm.state and vm.mem, as Machine.snapshot writes them) \
            instead of booting one; the guest goes on where it was paused. The machine comes from the \
            snapshot: no kernel, memory, vCPU, device or command options with it.
            """)
    var restore: String?

    @Flag(help: "Do not hide the CPU features a PVM host cannot emulate from the guest's CPUID.")
    var keepCpuid = false

    @Flag(help: "Enter an ELF kernel through its 64-bit entry even when it has a PVH note.")
    var linux64Entry = false

    @Flag(help: "Print the time to the userspace marker and the boot timer on stderr.")
    var times = false

    @Option(
        help: """
            Profile the guest: sample every vCPU's instruction pointer and write a report (functions from the \
            ELF kernel's symbol table, by share and by 5 s window) to FILE, the raw samples to FILE.samples.
            """)
    var profile: String?

    @Option(help: "Milliseconds between two profile samples of every vCPU (1 ... 1000).")
    var profileInterval = 2

    @Flag(help: "Run without the seccomp filters that are otherwise installed on the VMM and vCPU threads.")
    var noSeccomp = false

    @Option(
        help: """
            Seccomp policy in Firecracker's JSON format, with a "vmm" and a "vcpu" filter, instead of the \
            built-in one (IntegrationVMM/Sources/IntegrationVMMCore/Seccomp/x86_64.json).
            """)
    var seccompFilter: String?

    @Flag(
        help: """
            Learn a policy: the filters allow everything and the kernel audits (dmesg, type=1326) each call \
            they do not list.
            """)
    var seccompLearn = false

    mutating func run() throws {
        let start = ContinuousClock.now
        // A parent may have started us with the stop signals blocked (a thread's mask is inherited
        // through exec): they must reach us, or SIGTERM would be ignored until a machine runs.
        try? SignalFd.unblock([SIGINT, SIGTERM, SIGHUP])
        let status = boot(start: start)
        Foundation.exit(status)
    }

    func boot(start: ContinuousClock.Instant) -> Int32 {
        if let apiSock { return serve(apiSock, start: start) }
        if let restore { return resume(from: restore, start: start) }
        let config: MachineConfig
        let sandbox: Sandbox?
        do {
            config = try makeConfig()
            sandbox = try makeSandbox()
        } catch {
            printError("integration-vmm: \(error)")
            return GuestOutcome.vmmErrorStatus
        }
        var options = RunOptions()
        options.processStart = start
        options.reportTimes = times
        options.console = command == nil ? .everything : .commandOutput
        options.forwardInput = command == nil
        options.sandbox = sandbox
        // The profile's files are opened before the run: the VMM thread's seccomp filter forbids opening files.
        var profileOutput: ProfileOutput?
        if let profile {
            do {
                profileOutput = try ProfileOutput(path: profile, kernel: config.kernel)
            } catch {
                printError("integration-vmm: \(error)")
                return GuestOutcome.vmmErrorStatus
            }
            options.profiler = GuestProfiler(interval: .milliseconds(min(max(profileInterval, 1), 1000)))
        }
        do {
            let result = try IntegrationVMM.run(config, options: options)
            if let profileOutput, let profiler = options.profiler {
                profileOutput.write(profiler)
            }
            if times, result.console.sawReady {
                printError("integration-vmm: run ended after \(ContinuousClock.now - start)")
            }
            return exitStatus(result)
        } catch {
            printError("integration-vmm: \(error)")
            return GuestOutcome.vmmErrorStatus
        }
    }

    /// The process's exit status for a finished run: the guest command's with `--command` (when
    /// the guest shut down after it), else the outcome's, whose message goes to stderr.
    func exitStatus(_ result: RunResult) -> Int32 {
        if command != nil, let status = result.console.commandStatus,
            result.outcome == .rebooted || result.outcome == .poweredOff
        {
            return Int32(truncatingIfNeeded: status)
        }
        if let message = result.outcome.message { printError(message) }
        return result.outcome.exitStatus
    }

    /// Whether any option describes a machine to boot (rather than leaving it to the API).
    var machineOptionsGiven: Bool {
        kernel != nil || initrd != nil || memory != "size_mib=256" || vcpus != 1 || command != nil || rng
            || !block.isEmpty || !net.isEmpty || vsock != nil || console != nil || !vhostUserBlk.isEmpty
            || !vhostUserFs.isEmpty || !vhostUser.isEmpty
    }

    /// `--api-sock PATH`: serves the API, boots the machine the options describe (if any) or
    /// waits for the API to start or load one, runs it and exits with its status.
    func serve(_ socketPath: String, start: ContinuousClock.Instant) -> Int32 {
        guard restore == nil, profile == nil else {
            printError(
                "integration-vmm: --api-sock does not combine with --restore or --profile (use PUT /snapshot/load)")
            return GuestOutcome.vmmErrorStatus
        }
        var options = RunOptions()
        options.processStart = start
        options.reportTimes = times
        options.console = command == nil ? .everything : .commandOutput
        options.forwardInput = command == nil
        do {
            options.sandbox = try makeSandbox()
            let controller = VMMController(options: options, instanceID: "integration-vmm-\(getpid())")
            try APIServer.start(socketPath: socketPath, controller: controller)
            if machineOptionsGiven { try controller.start(try makeConfig()) }
            let result = try controller.waitForMachine().run()
            return exitStatus(result)
        } catch {
            printError("integration-vmm: \(error)")
            return GuestOutcome.vmmErrorStatus
        }
    }

    /// `--restore DIR`: the snapshot's machine, run with the console on stdout (and stdin forwarded).
    func resume(from directory: String, start: ContinuousClock.Instant) -> Int32 {
        let machineOptions: [(String, Bool)] = [
            ("--kernel", kernel != nil), ("--initrd", initrd != nil), ("--memory", memory != "size_mib=256"),
            ("--vcpus", vcpus != 1), ("--command", command != nil), ("--rng", rng), ("--block", !block.isEmpty),
            ("--net", !net.isEmpty), ("--vsock", vsock != nil), ("--console", console != nil),
            ("--vhost-user-blk", !vhostUserBlk.isEmpty), ("--vhost-user-fs", !vhostUserFs.isEmpty),
            ("--vhost-user", !vhostUser.isEmpty), ("--profile", profile != nil),
        ]
        let given = machineOptions.filter(\.1).map(\.0)
        guard given.isEmpty else {
            printError(
                "integration-vmm: --restore takes the machine from the snapshot; drop \(given.joined(separator: ", "))")
            return GuestOutcome.vmmErrorStatus
        }
        var options = RunOptions()
        options.processStart = start
        options.reportTimes = times
        do {
            options.sandbox = try makeSandbox()
            let machine = try IntegrationVMM.restore(directory: directory, options: options)
            if times { printError("integration-vmm: restored in \(ContinuousClock.now - start)") }
            let result = try machine.run()
            if let message = result.outcome.message { printError(message) }
            return result.outcome.exitStatus
        } catch {
            printError("integration-vmm: \(error)")
            return GuestOutcome.vmmErrorStatus
        }
    }

    /// The checkout that builds the default guest (`ci/guest/`): the working directory when it
    /// is one, else the one this binary was compiled from, if it still exists.
    static var repositoryRoot: URL? {
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let compiled = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return [cwd, compiled].first {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("ci/guest/init.sh").path)
        }
    }

    /// The guest gets a shell when nobody asked for a command and a person can type: stdin is a terminal.
    var interactive: Bool { command == nil && isatty(STDIN_FILENO) == 1 }

    /// The filters to install: none with --no-seccomp, else --seccomp-filter's or the built-in policy.
    func makeSandbox() throws(VMMError) -> Sandbox? {
        if noSeccomp {
            guard seccompFilter == nil, !seccompLearn else {
                throw VMMError("--no-seccomp excludes --seccomp-filter and --seccomp-learn")
            }
            return nil
        }
        let policy: SeccompPolicy
        if let path = seccompFilter {
            let bytes = try IntegrationVMM.readFile(path, what: "seccomp filter")
            policy = try Sandbox.policy(jsonBytes: bytes, origin: path)
        } else {
            policy = try Sandbox.defaultPolicy()
        }
        return try Sandbox(policy: policy, learning: seccompLearn)
    }

    func makeConfig() throws -> MachineConfig {
        let kernelOption = try kernel.map { text throws(ConfigError) in try KernelOption.parse(text) }
        let assets: GuestAssets?
        if kernelOption == nil || initrd == nil {
            let guest = DefaultGuest(workspace: Self.repositoryRoot, log: printError)
            assets = try guest.assets(kernelPath: kernelOption?.path, initramfsPath: initrd)
        } else {
            assets = nil
        }
        let kernelPath = kernelOption?.path ?? assets!.kernel.path
        var commandLine =
            kernelOption?.commandLine
            ?? DefaultGuestParameters.complete(assets?.commandLine ?? GuestFlavor.forHost().requiredCommandLine)
        if let command {
            commandLine = try GuestCommandLine.running(command, after: commandLine)
        } else if interactive, kernelOption?.commandLine == nil {
            commandLine = GuestCommandLine.interactive(after: commandLine)
        }
        var config = MachineConfig(
            kernel: kernelPath, commandLine: commandLine, initrd: initrd ?? assets?.initramfs?.path)
        guard config.initrd != nil || kernelOption != nil else {
            throw ConfigError("no guest initramfs found; run `swift run vmm-tools guest initramfs` or pass --initrd")
        }
        config.memorySize = try MemoryOption.parse(memory)
        config.vcpus = vcpus
        config.hidePVMUnsupportedFeatures = !keepCpuid
        config.preferLinux64Entry = linux64Entry
        config.virtioDevices = try block.map { text throws(ConfigError) in try VirtioDeviceOption.parseBlock(text) }
        config.virtioDevices += try net.map { text throws(ConfigError) in try VirtioDeviceOption.parseNet(text) }
        if let vsock { config.virtioDevices.append(try VirtioDeviceOption.parseVsock(vsock)) }
        if let console { config.virtioDevices.append(try VirtioDeviceOption.parseConsole(console)) }
        if rng { config.virtioDevices.append(.entropy) }
        config.virtioDevices += try vhostUserBlk.map { text throws(ConfigError) in
            try VirtioDeviceOption.parseVhostUserBlock(text)
        }
        config.virtioDevices += try vhostUserFs.map { text throws(ConfigError) in
            try VirtioDeviceOption.parseVhostUserFilesystem(text)
        }
        config.virtioDevices += try vhostUser.map { text throws(ConfigError) in
            try VirtioDeviceOption.parseVhostUser(text)
        }
        try config.validate()
        return config
    }
}

/// Where `--profile` writes: the report and the raw samples, opened before the run, and the kernel's symbols.
struct ProfileOutput {
    let path: String
    let report: FileHandle
    let samples: FileHandle
    let symbols: ProfileSymbols?

    init(path: String, kernel: String) throws(VMMError) {
        func create(_ file: String) throws(VMMError) -> FileHandle {
            guard FileManager.default.createFile(atPath: file, contents: nil),
                let handle = FileHandle(forWritingAtPath: file)
            else { throw VMMError("--profile: cannot create \(file)") }
            return handle
        }
        self.path = path
        report = try create(path)
        samples = try create(path + ".samples")
        symbols = ProfileSymbols.load(kernelPath: kernel)
    }

    /// Writes the report (functions named when the kernel had a symbol table) and one line per sample:
    /// milliseconds since the start, vCPU index, RIP in hex.
    func write(_ profiler: GuestProfiler) {
        let text = profiler.report { symbols?.lookup($0) }
        let raw = profiler.samples.map { "\($0.milliseconds) \($0.vcpu) \(String($0.rip, radix: 16))\n" }.joined()
        do {
            try report.write(contentsOf: Data(text.utf8))
            try samples.write(contentsOf: Data(raw.utf8))
            printError("integration-vmm: profile (\(profiler.samples.count) samples) written to \(path)")
        } catch {
            printError("integration-vmm: cannot write the profile to \(path): \(error)")
        }
    }
}
