// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets

/// One measured boot of the guest in QEMU.
public struct GuestBootResult: Sendable, Equatable {
    /// Wall-clock seconds from starting QEMU to the `VMM-GUEST-READY` line, if it came.
    public var readySeconds: Double?
    /// Guest uptime printed with the ready marker.
    public var guestUptime: Double?
    /// Exit status of the guest command, from `VMM-GUEST-EXIT status=<n>`.
    public var commandStatus: Int?
    /// Wall-clock seconds until QEMU exited.
    public var totalSeconds: Double
    /// QEMU's exit status.
    public var qemuStatus: Int32
    /// True when the boot was stopped by the timeout.
    public var timedOut: Bool
    /// Console lines that look like failures (emulation failure, panic, KVM errors).
    public var problems: [String]

    /// Reached userspace, ran the command and exited by itself.
    public var succeeded: Bool { readySeconds != nil && commandStatus != nil && !timedOut && qemuStatus == 0 }
}

/// Boots the guest kernel and initramfs in QEMU (`-enable-kvm -cpu host -M microvm`) and
/// times the way to the userspace marker and power-off.
///
/// ```swift
/// let check = GuestBootCheck(kernel: vmlinux, initramfs: cpio, commandLine: assets.commandLine)
/// let result = try check.boot(command: "true")
/// ```
public struct GuestBootCheck: Sendable {
    /// The kernel to boot (ELF with a PVH note, or a bzImage).
    public var kernel: URL
    /// The initramfs.
    public var initramfs: URL
    /// Kernel parameters (without the `--` command part).
    public var commandLine: String
    /// Guest memory in MiB (less memory = less struct-page setup in the emulated kernel).
    public var memoryMiB: Int = 128
    /// Number of vCPUs.
    public var cpus: Int = 1
    /// Adds a virtio-net device (QEMU user networking) to the machine.
    public var network: Bool = false
    /// Seconds before a boot is stopped.
    public var timeoutSeconds: Double = 300

    /// A check of `kernel` with `initramfs`.
    public init(kernel: URL, initramfs: URL, commandLine: String) {
        self.kernel = kernel
        self.initramfs = initramfs
        self.commandLine = commandLine
    }

    /// `host` without IA32_ARCH_CAPABILITIES: on this PVM host QEMU 7.2 otherwise aborts at
    /// start with "failed to set MSR 0x10a to 0x69"; the guest does not need the MSR.
    public static let cpuModel = "host,-arch-capabilities"

    /// The QEMU command line for one boot running `command` in the guest.
    public func qemuArguments(command: String) throws(GuestAssetsError) -> [String] {
        var arguments = [
            "qemu-system-x86_64", "-enable-kvm", "-cpu", Self.cpuModel, "-M", "microvm,acpi=off", "-m", "\(memoryMiB)M",
            "-smp", "\(cpus)", "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
            "-kernel", kernel.path, "-initrd", initramfs.path,
        ]
        if network {
            arguments += ["-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0"]
        }
        arguments += ["-append", try GuestCommandLine.running(command, after: commandLine)]
        return arguments
    }

    /// Boots once; `echo` receives every console line prefixed with the wall time.
    public func boot(command: String, echo: ((String) -> Void)? = nil) throws(GuestBuildError) -> GuestBootResult {
        let arguments: [String]
        do {
            arguments = try qemuArguments(command: command)
        } catch {
            throw GuestBuildError("check: \(error)")
        }
        let started = Date()
        var result = GuestBootResult(
            readySeconds: nil, guestUptime: nil, commandStatus: nil, totalSeconds: 0, qemuStatus: 0, timedOut: false,
            problems: [])
        let timedOut = TimeoutFlag()
        do {
            result.qemuStatus = try LineStreamingProcess.run(
                arguments,
                onStart: { process in
                    let deadline = DispatchTime.now() + timeoutSeconds
                    let reference = UnsafeSendableProcess(process)
                    DispatchQueue.global().asyncAfter(deadline: deadline) {
                        if reference.process.isRunning {
                            timedOut.set()
                            reference.process.terminate()
                        }
                    }
                }
            ) { line in
                let elapsed = Date().timeIntervalSince(started)
                echo?(String(format: "%8.3f %@", elapsed, line))
                if result.readySeconds == nil, line.contains(GuestCommandLine.readyMarker) {
                    result.readySeconds = elapsed
                    result.guestUptime = Self.value(of: "uptime=", in: line)
                }
                if let status = GuestCommandLine.exitStatus(inConsoleOutput: line) { result.commandStatus = status }
                if Self.looksLikeFailure(line) { result.problems.append(line) }
            }
        } catch {
            throw GuestBuildError("check: cannot run qemu-system-x86_64 (install qemu-system-x86): \(error)")
        }
        result.totalSeconds = Date().timeIntervalSince(started)
        result.timedOut = timedOut.isSet
        return result
    }

    static func value(of key: String, in line: String) -> Double? {
        guard let range = line.range(of: key) else { return nil }
        return Double(line[range.upperBound...].prefix { $0.isNumber || $0 == "." })
    }

    static func looksLikeFailure(_ line: String) -> Bool {
        [
            "emulation failure", "KVM internal error", "Kernel panic", "Oops", "BUG:", "segfault",
            "Attempted to kill init",
        ]
        .contains { line.contains($0) }
    }

    /// The median of `values` (mean of the middle two for an even count); nil when empty.
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

/// Set from the timeout timer, read after QEMU exits.
private final class TimeoutFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// `Process` is thread-safe for `isRunning` and `terminate()`, which is all the timer uses.
private struct UnsafeSendableProcess: @unchecked Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}
