// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A command-line value integration-vmm could not accept, with one line saying why.
///
/// ```swift
/// do { _ = try MemoryOption.parse("size_mib=0") } catch { print(error) }  // --memory: size_mib must be ...
/// ```
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The one-line explanation.
    public var description: String
    /// Creates an error with a one-line explanation.
    public init(_ description: String) { self.description = description }
}

/// Splits `key=value,key=value` option strings (the BLUEPRINT's `--kernel path=...,cmdline=...`).
///
/// A value may itself contain commas when it is the last key (`cmdline=` usually is),
/// so `cmdline` swallows the rest of the string.
enum KeyValueOptions {
    static func parse(
        _ text: String, option: String, known: [String], rest: String? = nil
    ) throws(ConfigError)
        -> [String: String]
    {
        var result: [String: String] = [:]
        var remaining = Substring(text)
        while !remaining.isEmpty {
            guard let equals = remaining.firstIndex(of: "=") else {
                throw ConfigError("\(option): expected key=value, got '\(remaining)'")
            }
            let key = String(remaining[..<equals])
            guard known.contains(key) else {
                throw ConfigError("\(option): unknown key '\(key)' (known: \(known.joined(separator: ", ")))")
            }
            let afterEquals = remaining[remaining.index(after: equals)...]
            let value: Substring
            if key == rest {
                value = afterEquals
                remaining = ""
            } else if let comma = afterEquals.firstIndex(of: ",") {
                value = afterEquals[..<comma]
                remaining = afterEquals[afterEquals.index(after: comma)...]
            } else {
                value = afterEquals
                remaining = ""
            }
            guard result[key] == nil else { throw ConfigError("\(option): '\(key)' given twice") }
            result[key] = String(value)
        }
        return result
    }
}

/// `--kernel path=<file>[,cmdline=<parameters>]` (a bare path is accepted too).
///
/// ```swift
/// let kernel = try KernelOption.parse("path=/boot/vmlinux,cmdline=console=ttyS0 quiet")
/// print(kernel.path, kernel.commandLine ?? "")
/// ```
public struct KernelOption: Equatable, Sendable {
    /// The kernel image (ELF vmlinux or bzImage).
    public var path: String
    /// Kernel parameters replacing the default ones, if given.
    public var commandLine: String?

    /// Creates an option value.
    public init(path: String, commandLine: String? = nil) {
        self.path = path
        self.commandLine = commandLine
    }

    /// Parses the option text.
    public static func parse(_ text: String) throws(ConfigError) -> KernelOption {
        guard text.contains("=") else {
            guard !text.isEmpty else { throw ConfigError("--kernel: empty path") }
            return KernelOption(path: text)
        }
        let values = try KeyValueOptions.parse(text, option: "--kernel", known: ["path", "cmdline"], rest: "cmdline")
        guard let path = values["path"], !path.isEmpty else { throw ConfigError("--kernel: path= is required") }
        return KernelOption(path: path, commandLine: values["cmdline"])
    }
}

/// `--memory size_mib=<N>` (a bare number of MiB is accepted too).
///
/// ```swift
/// print(try MemoryOption.parse("size_mib=5000"))  // 5242880000
/// ```
public enum MemoryOption {
    /// The smallest guest this VMM boots: Linux needs room for itself and the initramfs.
    public static let minimumMiB: UInt64 = 64
    /// The largest guest: 1 TiB (the identity page tables and E820 handle far more, the host does not).
    public static let maximumMiB: UInt64 = 1 << 20

    /// Bytes of guest RAM.
    public static func parse(_ text: String) throws(ConfigError) -> UInt64 {
        var number = text
        if text.contains("=") {
            let values = try KeyValueOptions.parse(text, option: "--memory", known: ["size_mib"])
            guard let size = values["size_mib"] else { throw ConfigError("--memory: size_mib= is required") }
            number = size
        }
        guard let mib = UInt64(number) else {
            throw ConfigError("--memory: size_mib must be a whole number of MiB, got '\(number)'")
        }
        guard mib >= minimumMiB, mib <= maximumMiB else {
            throw ConfigError("--memory: size_mib must be between \(minimumMiB) and \(maximumMiB), got \(mib)")
        }
        return mib << 20
    }
}

/// Everything needed to boot one guest.
///
/// ```swift
/// var config = MachineConfig(kernel: "/boot/vmlinux", commandLine: "console=ttyS0")
/// config.vcpus = 2
/// config.memorySize = 512 << 20
/// ```
public struct MachineConfig: Equatable, Sendable {
    /// The largest vCPU count (the MADT and the kernel's NR_CPUS are the real limits).
    public static let maximumVCPUs = 64

    /// Kernel image path.
    public var kernel: String
    /// Kernel parameters.
    public var commandLine: String
    /// Initramfs path, if any.
    public var initrd: String?
    /// Guest RAM in bytes.
    public var memorySize: UInt64 = 256 << 20
    /// Number of vCPUs.
    public var vcpus: Int = 1
    /// Hide the CPU features a PVM host cannot emulate through the CPUID the VMM sets.
    public var hidePVMUnsupportedFeatures = true
    /// Boot a bzImage/ELF through its 64-bit entry even when it has a PVH note.
    public var preferLinux64Entry = false
    /// Virtio devices, in the order their windows and interrupts are assigned.
    public var virtioDevices: [VirtioDeviceOption] = []

    /// A configuration with defaults (256 MiB, 1 vCPU).
    public init(kernel: String, commandLine: String, initrd: String? = nil) {
        self.kernel = kernel
        self.commandLine = commandLine
        self.initrd = initrd
    }

    /// Checks vCPU count and memory size.
    public func validate() throws(ConfigError) {
        guard vcpus >= 1, vcpus <= Self.maximumVCPUs else {
            throw ConfigError("--vcpus must be between 1 and \(Self.maximumVCPUs), got \(vcpus)")
        }
        guard memorySize >= MemoryOption.minimumMiB << 20, memorySize <= MemoryOption.maximumMiB << 20 else {
            throw ConfigError(
                "--memory: \(memorySize >> 20) MiB is outside \(MemoryOption.minimumMiB)...\(MemoryOption.maximumMiB)")
        }
    }
}

/// Splits kernel parameters into words the way the kernel does: spaces separate, double
/// quotes group (and are removed); `key="a b"` stays one word `key=a b`.
///
/// ```swift
/// print(KernelParameters.split(#"quiet vmm.cmd="echo hi""#))  // ["quiet", "vmm.cmd=echo hi"]
/// ```
public enum KernelParameters {
    /// The words of `text`.
    public static func split(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false
        var started = false
        for character in text {
            if character == "\"" {
                quoted.toggle()
                started = true
            } else if character == " " && !quoted {
                if started { words.append(current) }
                current = ""
                started = false
            } else {
                current.append(character)
                started = true
            }
        }
        if started { words.append(current) }
        return words
    }
}

/// The kernel parameters integration-vmm adds for the project's guest kernel.
///
/// ```swift
/// print(DefaultGuestParameters.complete("console=ttyS0 quiet"))  // console=ttyS0 quiet acpi=off
/// ```
public enum DefaultGuestParameters {
    /// `acpi=off`: the lean PVM guest kernel (no CONFIG_PCI) fails to load any DSDT
    /// ("AE_BAD_PARAMETER, During Region initialization", in QEMU too), and with ACPI
    /// on but no namespace, the hardware-reduced mode leaves ISA IRQ 4 unmapped, so
    /// userspace output never reaches the UART. With `acpi=off` the kernel takes the
    /// vCPUs and ISA interrupts from the MP table integration-vmm also writes.
    public static let extra = ["acpi=off"]

    /// `base` plus ``extra`` (each only when missing).
    public static func complete(_ base: String) -> String {
        var words = KernelParameters.split(base)
        var line = base
        for parameter in extra where !words.contains(parameter) {
            line += " " + parameter
            words.append(parameter)
        }
        return line
    }
}
