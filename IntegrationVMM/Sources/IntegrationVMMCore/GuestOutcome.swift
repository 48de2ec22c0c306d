// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// How a guest run ended, and the process exit status it maps to.
///
/// ```swift
/// let outcome = GuestOutcome.panicked(line: "Kernel panic - not syncing: oops")
/// print(outcome.exitStatus, outcome.message ?? "")  // 2 guest panic: Kernel panic - not syncing: oops
/// ```
public enum GuestOutcome: Equatable, Sendable {
    /// The guest powered off (ACPI S5, or the kernel reported "System halted").
    case poweredOff
    /// The guest rebooted (i8042 reset, or a triple fault after "reboot: Restarting system").
    case rebooted
    /// The guest kernel panicked; `line` is the panic line from the console.
    case panicked(line: String)
    /// The vCPU shut down without a reboot or panic being announced: a triple fault.
    case tripleFault
    /// The hypervisor could not continue (an emulation failure, an entry failure, an unknown exit).
    case internalError(String)
    /// The VMM stopped the guest on request: Ctrl-A X (`signal` nil) or SIGINT/SIGTERM/SIGHUP.
    case stopped(signal: Int32?)
    /// The VMM itself failed while the guest ran (a vCPU thread could not install its filter).
    case vmmError(String)

    /// Exit status for a VMM error (bad arguments, missing files, a failed setup step).
    public static let vmmErrorStatus: Int32 = 1
    /// Exit status for a guest panic.
    public static let panicStatus: Int32 = 2
    /// Exit status for a triple fault or hypervisor internal error.
    public static let guestCrashStatus: Int32 = 3

    /// 0 for power-off, reboot and Ctrl-A X; 128 + signal for SIGINT/SIGTERM/SIGHUP; the constants above otherwise.
    public var exitStatus: Int32 {
        switch self {
        case .poweredOff, .rebooted: 0
        case .panicked: Self.panicStatus
        case .tripleFault, .internalError: Self.guestCrashStatus
        case .stopped(let signal): signal.map { 128 + $0 } ?? 0
        case .vmmError: Self.vmmErrorStatus
        }
    }

    /// The one stderr line for a non-zero outcome (nil when the run ended normally).
    public var message: String? {
        switch self {
        case .poweredOff, .rebooted, .stopped(nil): nil
        case .panicked(let line): "integration-vmm: guest panic: \(line)"
        case .tripleFault: "integration-vmm: guest triple fault (vCPU shutdown without reboot or panic)"
        case .internalError(let what): "integration-vmm: hypervisor error: \(what)"
        case .vmmError(let what): "integration-vmm: \(what)"
        case .stopped(let signal?): "integration-vmm: stopped by signal \(signal)"
        }
    }
}

/// Watches the serial console for the lines that say how a run ends: the kernel's
/// panic line, its restart/power-down announcements, and the initramfs markers.
///
/// ```swift
/// var watch = ConsoleWatch()
/// for byte in "Kernel panic - not syncing: VFS\n".utf8 { watch.consume(byte) }
/// print(watch.panicLine ?? "")   // Kernel panic - not syncing: VFS
/// ```
public struct ConsoleWatch: Sendable {
    /// Printed by the initramfs once userspace runs.
    public static let readyMarker = "VMM-GUEST-READY"
    /// Printed by the initramfs with the command's status.
    public static let exitMarker = "VMM-GUEST-EXIT status="
    /// The longest line kept (longer lines are cut; the markers are short).
    public static let maximumLine = 512

    /// The first panic line seen.
    public private(set) var panicLine: String?
    /// The kernel announced a restart.
    public private(set) var sawRestart = false
    /// The kernel announced a power-down or halt.
    public private(set) var sawPowerDown = false
    /// The kernel announced it halted (also when power-off was asked for but is unavailable): the run is over.
    public private(set) var sawHalt = false
    /// True for kernel log lines (`[   12.345678] ...`), which are not a guest command's output.
    public static func isKernelMessage(_ line: String) -> Bool {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return false }
        let stamp = line[line.index(after: line.startIndex)..<close].filter { $0 != " " }
        return !stamp.isEmpty && stamp.allSatisfy { $0.isNumber || $0 == "." }
    }

    /// The userspace marker was seen.
    public private(set) var sawReady = false
    /// The guest command's exit status, once its marker was seen.
    public private(set) var commandStatus: Int?
    private var line: [UInt8] = []

    /// An empty watch.
    public init() {}

    /// Feeds one console byte; returns the completed line when `byte` ends one.
    @discardableResult
    public mutating func consume(_ byte: UInt8) -> String? {
        if byte == 0x0a {
            let text = String(decoding: line, as: UTF8.self)
            line.removeAll(keepingCapacity: true)
            examine(text)
            return text
        }
        if byte != 0x0d && line.count < Self.maximumLine { line.append(byte) }
        return nil
    }

    private mutating func examine(_ text: String) {
        if panicLine == nil, let range = text.range(of: "Kernel panic - not syncing") {
            panicLine = String(text[range.lowerBound...])
        }
        if text.contains("reboot: Restarting system") { sawRestart = true }
        if text.contains("reboot: Power down") { sawPowerDown = true }
        // "reboot: System halted", or "reboot: Power off not available: System halted instead".
        if text.hasPrefix("reboot: ") || text.contains("] reboot: "), text.contains("System halted") { sawHalt = true }
        if text.contains(Self.readyMarker) { sawReady = true }
        if commandStatus == nil, let range = text.range(of: Self.exitMarker) {
            commandStatus = Int(text[range.upperBound...].prefix { $0.isNumber })
        }
    }

    /// What a vCPU shutdown (triple fault) means given what the console said before it.
    public var shutdownOutcome: GuestOutcome {
        if let panicLine { return .panicked(line: panicLine) }
        if sawRestart { return .rebooted }
        if sawPowerDown { return .poweredOff }
        return .tripleFault
    }
}
