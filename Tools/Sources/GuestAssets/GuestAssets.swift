// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// Which guest kernel a host needs.
///
/// ```swift
/// let flavor = GuestFlavor.forHost()   // .pvm on these machines
/// ```
public enum GuestFlavor: String, Sendable, CaseIterable {
    /// A lean kernel with the `kvmpvm_compat` patch, for PVM hosts whose
    /// guest kernel mode runs in an instruction emulator.
    case pvm
    /// Debian's cloud kernel, for hosts with VMX or SVM.
    case standard

    /// `.pvm` when the `kvm_pvm` module is present (`/sys/module/kvm_pvm`), else `.standard`.
    public static func forHost(moduleDirectory: String = "/sys/module") -> GuestFlavor {
        FileManager.default.fileExists(atPath: moduleDirectory + "/kvm_pvm") ? .pvm : .standard
    }

    /// Kernel parameters this flavor needs to boot on its host (console on the first UART,
    /// power-off through a triple fault so a VMM or `qemu -no-reboot` sees the exit).
    public var requiredCommandLine: String {
        switch self {
        case .pvm: return "console=ttyS0 reboot=t panic=-1 kvmpvm_compat quiet"
        case .standard: return "console=ttyS0 reboot=t panic=-1 quiet"
        }
    }
}

/// Where a guest asset was found.
public enum GuestAssetOrigin: String, Sendable {
    /// Passed explicitly or through `VMM_GUEST_KERNEL` / `VMM_GUEST_INITRAMFS`.
    case explicit
    /// The project's cache (`vmm-tools guest kernel` / `guest initramfs`).
    case cache
    /// The prebuilt kernel in `../shared/guest` next to the repository.
    case shared
}

/// Why guest assets could not be found.
public struct GuestAssetsError: Error, CustomStringConvertible, Equatable {
    /// A one-line explanation including the places that were searched.
    public var description: String
    /// Creates an error with a one-line explanation.
    public init(_ description: String) { self.description = description }
}

/// The cache folder shared by every clone on a machine.
///
/// ```swift
/// let cache = GuestCache()                       // $VMM_GUEST_CACHE or ~/.cache/swift-vmm/guest
/// let kernelFolder = cache.entry(flavor: .pvm, key: "0123abcd")
/// ```
public struct GuestCache: Sendable, Equatable {
    /// The cache root folder.
    public var root: URL

    /// Uses `root` as the cache root.
    public init(root: URL) { self.root = root.standardizedFileURL }

    /// `$VMM_GUEST_CACHE`, else `$HOME/.cache/swift-vmm/guest`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let explicit = environment["VMM_GUEST_CACHE"], !explicit.isEmpty {
            self.init(root: URL(fileURLWithPath: explicit))
        } else {
            let home = environment["HOME"] ?? NSHomeDirectory()
            self.init(root: URL(fileURLWithPath: home).appendingPathComponent(".cache/swift-vmm/guest"))
        }
    }

    /// Name of the file written last into a finished entry; entries without it are ignored.
    public static let completeMarker = "COMPLETE"

    /// The folder for one kernel build: `<root>/<flavor>-<key>`.
    public func entry(flavor: GuestFlavor, key: String) -> URL {
        root.appendingPathComponent("\(flavor.rawValue)-\(key)")
    }

    /// The folder for one initramfs build: `<root>/initramfs-<key>`.
    public func initramfsEntry(key: String) -> URL {
        root.appendingPathComponent("initramfs-\(key)")
    }

    /// The newest complete entry whose folder name starts with `prefix-`, by the time its
    /// marker was written (the most recent build wins).
    public func newestEntry(prefix: String) -> URL? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        var best: (URL, Date)?
        for name in names where name.hasPrefix(prefix + "-") {
            let folder = root.appendingPathComponent(name)
            let marker = folder.appendingPathComponent(Self.completeMarker).path
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: marker),
                let date = attributes[.modificationDate] as? Date
            else { continue }
            if best == nil || date > best!.1 { best = (folder, date) }
        }
        return best?.0
    }
}

/// A guest kernel (and optionally an initramfs) ready to boot, with the parameters it needs.
///
/// ```swift
/// let assets = try GuestAssets.locate(repositoryRoot: URL(fileURLWithPath: "."))
/// print(assets.kernel.path, assets.commandLine)
/// ```
public struct GuestAssets: Sendable, Equatable {
    /// The uncompressed ELF kernel with a PVH note (`vmlinux`).
    public var kernel: URL
    /// An uncompressed newc cpio initramfs, when one was found.
    public var initramfs: URL?
    /// The flavor the kernel was looked up for.
    public var flavor: GuestFlavor
    /// Where the kernel came from.
    public var origin: GuestAssetOrigin
    /// Kernel parameters the kernel needs (from its `cmdline` file, else the flavor's default).
    public var commandLine: String

    /// Creates a description of assets that were found elsewhere.
    public init(
        kernel: URL, initramfs: URL?, flavor: GuestFlavor, origin: GuestAssetOrigin, commandLine: String
    ) {
        self.kernel = kernel
        self.initramfs = initramfs
        self.flavor = flavor
        self.origin = origin
        self.commandLine = commandLine
    }

    /// File name of the ELF kernel inside a cache entry.
    public static let kernelFileName = "vmlinux"
    /// File name of the compressed kernel inside a cache entry.
    public static let bzImageFileName = "bzImage"
    /// File name of the required kernel parameters inside a cache entry.
    public static let commandLineFileName = "cmdline"
    /// File name of the initramfs inside an initramfs cache entry.
    public static let initramfsFileName = "initramfs.cpio"

    /// Environment switch that hides `../shared/guest` from ``locate(kernelPath:initramfsPath:flavor:environment:cache:repositoryRoot:)``
    /// (any non-empty value but `0`): what a machine without that folder sees.
    public static let noSharedVariable = "VMM_GUEST_NO_SHARED"

    /// Finds the guest kernel and initramfs, in this order for each:
    /// 1. `kernelPath` / `initramfsPath`, else `VMM_GUEST_KERNEL` / `VMM_GUEST_INITRAMFS`;
    /// 2. the newest complete entry in the cache for `flavor`;
    /// 3. last, an optional accelerator: `../shared/guest` next to `repositoryRoot` (PVM flavor
    ///    only; it holds a PVM kernel), unless `VMM_GUEST_NO_SHARED` is set.
    ///
    /// A missing initramfs is not an error (`initramfs` is nil); a missing kernel is.
    /// This is the only place that knows about `../shared`; nothing requires it.
    public static func locate(
        kernelPath: String? = nil,
        initramfsPath: String? = nil,
        flavor: GuestFlavor = .forHost(),
        environment: [String: String] = ProcessInfo.processInfo.environment,
        cache: GuestCache? = nil,
        repositoryRoot: URL? = nil
    ) throws(GuestAssetsError) -> GuestAssets {
        let cache = cache ?? GuestCache(environment: environment)
        let fileManager = FileManager.default
        var searched: [String] = []

        func existing(_ path: String?, _ what: String) throws(GuestAssetsError) -> URL? {
            guard let path, !path.isEmpty else { return nil }
            guard fileManager.fileExists(atPath: path) else {
                throw GuestAssetsError("\(what) \(path) does not exist")
            }
            return URL(fileURLWithPath: path)
        }

        // Initramfs: explicit, then newest cached build, then nothing.
        var initramfs = try existing(initramfsPath ?? environment["VMM_GUEST_INITRAMFS"], "initramfs")
        if initramfs == nil, let entry = cache.newestEntry(prefix: "initramfs") {
            initramfs = entry.appendingPathComponent(initramfsFileName)
        }

        if let kernel = try existing(kernelPath ?? environment["VMM_GUEST_KERNEL"], "kernel") {
            let sidecar = kernel.deletingLastPathComponent().appendingPathComponent(commandLineFileName)
            return GuestAssets(
                kernel: kernel, initramfs: initramfs, flavor: flavor, origin: .explicit,
                commandLine: readCommandLine(sidecar) ?? flavor.requiredCommandLine)
        }
        searched.append("VMM_GUEST_KERNEL")

        if let entry = cache.newestEntry(prefix: flavor.rawValue) {
            return GuestAssets(
                kernel: entry.appendingPathComponent(kernelFileName), initramfs: initramfs, flavor: flavor,
                origin: .cache,
                commandLine: readCommandLine(entry.appendingPathComponent(commandLineFileName))
                    ?? flavor.requiredCommandLine)
        }
        searched.append(cache.root.appendingPathComponent("\(flavor.rawValue)-*").path)

        let sharedHidden = environment[noSharedVariable].map { !$0.isEmpty && $0 != "0" } ?? false
        if flavor == .pvm, let repositoryRoot, !sharedHidden {
            let shared = repositoryRoot.standardizedFileURL.deletingLastPathComponent()
                .appendingPathComponent("shared/guest")
            let kernel = shared.appendingPathComponent("vmlinux-6.12-pvmcompat")
            if fileManager.fileExists(atPath: kernel.path) {
                let sharedInitramfs = shared.appendingPathComponent(initramfsFileName)
                if initramfs == nil && fileManager.fileExists(atPath: sharedInitramfs.path) {
                    initramfs = sharedInitramfs
                }
                return GuestAssets(
                    kernel: kernel, initramfs: initramfs, flavor: flavor, origin: .shared,
                    commandLine: flavor.requiredCommandLine)
            }
            searched.append(kernel.path)
        }
        throw GuestAssetsError(
            "no \(flavor.rawValue) guest kernel (searched \(searched.joined(separator: ", "))); "
                + "run `swift run vmm-tools guest kernel --flavor \(flavor.rawValue)`")
    }

    /// The compressed kernel built with ``kernel``, when there is one: `bzImage` beside a cached or
    /// explicit `vmlinux`, `bzImage-<version>` beside a `vmlinux-<version>` in `../shared/guest`.
    public var bzImage: URL? {
        let folder = kernel.deletingLastPathComponent()
        let name = kernel.lastPathComponent
        let candidate =
            name.hasPrefix(Self.kernelFileName + "-")
            ? folder.appendingPathComponent(Self.bzImageFileName + name.dropFirst(Self.kernelFileName.count))
            : folder.appendingPathComponent(Self.bzImageFileName)
        return FileManager.default.fileExists(atPath: candidate.path) ? candidate : nil
    }

    private static func readCommandLine(_ url: URL) -> String? {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return line.isEmpty ? nil : line
    }
}

/// Builds kernel command lines for the project's initramfs, whose `/init` runs the
/// `vmm.cmd="..."` parameter as one shell command and prints its exit status.
///
/// ```swift
/// let line = try GuestCommandLine.running("uname -r; exit 3", after: assets.commandLine)
/// // console=ttyS0 ... vmm.cmd="uname -r; exit 3"   → guest prints VMM-GUEST-EXIT status=3
/// ```
public enum GuestCommandLine {
    /// Printed by `/init` once userspace runs: `VMM-GUEST-READY uptime=<seconds>`.
    public static let readyMarker = "VMM-GUEST-READY"
    /// Printed by `/init` after the command: `VMM-GUEST-EXIT status=<n>`.
    public static let exitMarker = "VMM-GUEST-EXIT"
    /// The parameter that makes `/init` start an interactive login shell on `ttyS0` (with job
    /// control) when there is no `vmm.cmd`; `exit`, `poweroff` or `reboot` in it end the guest.
    public static let shellParameter = "vmm.shell"
    /// The prompt of that shell (`PS1`), which tests and tools wait for.
    public static let shellPrompt = "root@swift-vmm:"

    /// `base vmm.shell`: the guest gives an interactive root shell on its serial console.
    public static func interactive(after base: String) -> String { "\(base) \(shellParameter)" }

    /// `base vmm.cmd="command"`. A parameter rather than init arguments after `--`,
    /// because VMMs (QEMU microvm adds `virtio_mmio.device=`) append to the command
    /// line. The kernel command line cannot escape a double quote, so a command
    /// containing one (or a newline) is rejected.
    public static func running(_ command: String, after base: String) throws(GuestAssetsError) -> String {
        if command.contains("\"") || command.contains("\n") {
            throw GuestAssetsError("a guest command cannot contain a double quote or a newline: \(command)")
        }
        return "\(base) vmm.cmd=\"\(command)\""
    }

    /// The exit status in a `VMM-GUEST-EXIT status=<n>` line of `console`, if there is one.
    public static func exitStatus(inConsoleOutput console: String) -> Int? {
        for line in console.split(whereSeparator: \.isNewline) {
            guard let range = line.range(of: exitMarker + " status=") else { continue }
            let digits = line[range.upperBound...].prefix { $0.isNumber }
            if let status = Int(digits) { return status }
        }
        return nil
    }
}
