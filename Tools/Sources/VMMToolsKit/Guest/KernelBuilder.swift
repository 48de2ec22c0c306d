// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets

/// Prepares guest kernels into the machine-wide cache.
///
/// `pvm`: Debian's `linux-source-6.12` + `ci/guest/kvmpvm-compat.patch`, configured as
/// `make tinyconfig` + `ci/guest/pvm.config`, built with `make vmlinux bzImage`.
/// `standard`: the kernel package `linux-image-cloud-amd64` depends on, with the ELF
/// `vmlinux` unpacked from its bzImage.
///
/// ```swift
/// let builder = KernelBuilder(workspaceRoot: root, cache: GuestCache(), log: { print($0) })
/// let folder = try builder.prepare(.pvm)   // <cache>/pvm-<hash>/vmlinux
/// ```
public struct KernelBuilder {
    /// The repository root holding `ci/guest/`.
    public var workspaceRoot: URL
    /// Where finished kernels go.
    public var cache: GuestCache
    /// Progress lines.
    public var log: (String) -> Void
    /// `make -j` parallelism (default: active processor count).
    public var jobs: Int

    /// The Debian package holding the kernel source tarball.
    public static let sourcePackage = "linux-source-6.12"
    /// The metapackage whose dependency is the standard flavor's kernel.
    public static let standardMetapackage = "linux-image-cloud-amd64"
    /// Files of `ci/guest/` that are build inputs (and so part of the key).
    public static let pvmInputs = ["pvm.config", "kvmpvm-compat.patch"]

    /// A builder writing to `cache`.
    public init(workspaceRoot: URL, cache: GuestCache, jobs: Int? = nil, log: @escaping (String) -> Void) {
        self.workspaceRoot = workspaceRoot
        self.cache = cache
        self.jobs = jobs ?? ProcessInfo.processInfo.activeProcessorCount
        self.log = log
    }

    /// The cache key for the pvm flavor given the Debian source version.
    public func pvmKey(sourceVersion: String) throws(GuestBuildError) -> String {
        var key = GuestCacheKey(kind: GuestFlavor.pvm.rawValue)
        key.add("source", "\(Self.sourcePackage) \(sourceVersion)")
        key.add("cmdline", GuestFlavor.pvm.requiredCommandLine)
        for name in Self.pvmInputs {
            let url = workspaceRoot.appendingPathComponent("ci/guest/\(name)")
            guard let bytes = FileManager.default.contents(atPath: url.path) else {
                throw GuestBuildError("kernel: missing build input \(url.path)")
            }
            key.add(name, Array(bytes))
        }
        return key.digest
    }

    /// Builds or fetches `flavor` unless the cache has it; returns the entry folder.
    public func prepare(_ flavor: GuestFlavor) throws(GuestBuildError) -> URL {
        switch flavor {
        case .pvm: return try preparePVM()
        case .standard: return try prepareStandard()
        }
    }

    // MARK: - pvm

    private func preparePVM() throws(GuestBuildError) -> URL {
        let source = try locateSource()
        let key = try pvmKey(sourceVersion: source.version)
        let entry = cache.entry(flavor: .pvm, key: key)
        if isComplete(entry) {
            log("kernel: cached pvm \(key) (\(Self.sourcePackage) \(source.version)) at \(entry.path)")
            return entry
        }
        log("kernel: building pvm \(key) from \(Self.sourcePackage) \(source.version) with \(jobs) jobs")
        let build = cache.root.appendingPathComponent("pvm-\(key).build")
        try? FileManager.default.removeItem(at: build)
        try makeDirectory(build)
        do {
            return try buildPVM(in: build, key: key, entry: entry, source: source)
        } catch {
            // A failed tree is ~1 GB; keep it only when asked to, for debugging.
            if ProcessInfo.processInfo.environment["VMM_GUEST_KEEP_BUILD"] == nil {
                try? FileManager.default.removeItem(at: build)
            } else {
                log("kernel: kept the failed build tree \(build.path)")
            }
            throw error
        }
    }

    private func buildPVM(
        in build: URL, key: String, entry: URL, source: (tarball: String, version: String)
    )
        throws(GuestBuildError) -> URL
    {
        let started = Date()
        try step("unpack source", ["tar", "-xf", source.tarball, "-C", build.path, "--strip-components=1"])
        let tree = build
        let guest = workspaceRoot.appendingPathComponent("ci/guest")
        try step(
            "apply kvmpvm-compat.patch",
            ["patch", "-p1", "--forward", "--quiet", "-i", guest.appendingPathComponent("kvmpvm-compat.patch").path],
            in: tree)
        try step("make tinyconfig", ["make", "-s", "tinyconfig"], in: tree)
        let fragmentURL = guest.appendingPathComponent("pvm.config")
        guard let fragmentText = try? String(contentsOf: fragmentURL, encoding: .utf8) else {
            throw GuestBuildError("kernel: cannot read \(fragmentURL.path)")
        }
        let fragment = try KernelConfigFragment(parsing: fragmentText)
        let configURL = tree.appendingPathComponent(".config")
        guard let base = try? String(contentsOf: configURL, encoding: .utf8) else {
            throw GuestBuildError("kernel: make tinyconfig wrote no .config")
        }
        try write(fragment.applied(to: base), to: configURL)
        try step("make olddefconfig", ["make", "-s", "olddefconfig"], in: tree)
        let final = (try? String(contentsOf: configURL, encoding: .utf8)) ?? ""
        let unmet = fragment.unmet(in: final)
        if !unmet.isEmpty {
            throw GuestBuildError(
                "kernel: Kconfig overrode \(unmet.count) lines of ci/guest/pvm.config: \(unmet.joined(separator: "; "))"
            )
        }
        try runMake(in: tree)
        let staging = cache.root.appendingPathComponent("pvm-\(key).staging")
        try? FileManager.default.removeItem(at: staging)
        try makeDirectory(staging)
        try copy(tree.appendingPathComponent("vmlinux"), to: staging.appendingPathComponent(GuestAssets.kernelFileName))
        try copy(
            tree.appendingPathComponent("arch/x86/boot/bzImage"),
            to: staging.appendingPathComponent(GuestAssets.bzImageFileName))
        try copy(configURL, to: staging.appendingPathComponent("config"))
        let seconds = Int(Date().timeIntervalSince(started))
        try finish(
            staging, as: entry, flavor: .pvm,
            provenance: "\(Self.sourcePackage) \(source.version)\nbuilt in \(seconds) s with make -j\(jobs)\n")
        removeInBackground(build)
        log("kernel: built pvm \(key) in \(seconds / 60)m\(seconds % 60)s → \(entry.path)")
        return entry
    }

    /// The source tarball and its package version: the installed package, else a
    /// user-level `apt-get download` into the cache (no root needed).
    func locateSource() throws(GuestBuildError) -> (tarball: String, version: String) {
        let tarball = "/usr/src/\(Self.sourcePackage).tar.xz"
        if FileManager.default.fileExists(atPath: tarball),
            let result = try? ProcessRunner.run(["dpkg-query", "-W", "-f", "${Version}", Self.sourcePackage]),
            result.succeeded, !result.output.isEmpty
        {
            return (tarball, result.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let downloads = cache.root.appendingPathComponent("downloads")
        try makeDirectory(downloads)
        log("kernel: \(Self.sourcePackage) is not installed; downloading it with apt-get")
        let deb = try download(Self.sourcePackage, into: downloads)
        let unpacked = downloads.appendingPathComponent(Self.sourcePackage)
        try step("unpack \(deb.lastPathComponent)", ["dpkg-deb", "-x", deb.path, unpacked.path])
        let version = try output(["dpkg-deb", "-f", deb.path, "Version"])
        return (unpacked.appendingPathComponent("usr/src/\(Self.sourcePackage).tar.xz").path, version)
    }

    /// Runs `make vmlinux bzImage`, printing a progress line about every 20 seconds.
    private func runMake(in tree: URL) throws(GuestBuildError) {
        let started = Date()
        var lastReport = started
        var compiled = 0
        var tail: [String] = []
        let status: Int32
        do {
            status = try LineStreamingProcess.run(
                ["make", "-j\(jobs)", "vmlinux", "bzImage"], in: tree
            ) { line in
                if line.hasPrefix("  CC ") || line.hasPrefix("  AS ") { compiled += 1 }
                tail.append(line)
                if tail.count > 30 { tail.removeFirst() }
                if Date().timeIntervalSince(lastReport) >= 20 {
                    lastReport = Date()
                    let elapsed = Int(lastReport.timeIntervalSince(started))
                    // A tinyconfig-based build of this fragment compiles about 1,300 files.
                    log("kernel: make: \(compiled) files compiled (~\(min(99, compiled * 100 / 1300))%), \(elapsed) s")
                }
            }
        } catch {
            throw GuestBuildError("kernel: cannot run make: \(error)")
        }
        if status != 0 {
            throw GuestBuildError(
                "kernel: make failed (status \(status)); last lines:\n\(tail.joined(separator: "\n"))")
        }
    }

    // MARK: - standard

    private func prepareStandard() throws(GuestBuildError) -> URL {
        let package = try standardPackageName()
        let version =
            try output(["apt-cache", "show", "--no-all-versions", package]).split(separator: "\n")
            .first { $0.hasPrefix("Version: ") }.map { String($0.dropFirst(9)) } ?? "unknown"
        var key = GuestCacheKey(kind: GuestFlavor.standard.rawValue)
        key.add("package", "\(package) \(version)")
        key.add("cmdline", GuestFlavor.standard.requiredCommandLine)
        let entry = cache.entry(flavor: .standard, key: key.digest)
        if isComplete(entry) {
            log("kernel: cached standard \(key.digest) (\(package) \(version)) at \(entry.path)")
            return entry
        }
        let staging = cache.root.appendingPathComponent("standard-\(key.digest).staging")
        try? FileManager.default.removeItem(at: staging)
        try makeDirectory(staging)
        log("kernel: downloading \(package) \(version)")
        let deb = try download(package, into: staging)
        let unpacked = staging.appendingPathComponent("root")
        try step("unpack \(deb.lastPathComponent)", ["dpkg-deb", "-x", deb.path, unpacked.path])
        let boot = unpacked.appendingPathComponent("boot")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: boot.path)) ?? []
        guard let vmlinuz = names.first(where: { $0.hasPrefix("vmlinuz-") }) else {
            throw GuestBuildError("kernel: \(deb.lastPathComponent) has no boot/vmlinuz-*")
        }
        let bzImageURL = staging.appendingPathComponent(GuestAssets.bzImageFileName)
        try copy(boot.appendingPathComponent(vmlinuz), to: bzImageURL)
        if let config = names.first(where: { $0.hasPrefix("config-") }) {
            try copy(boot.appendingPathComponent(config), to: staging.appendingPathComponent("config"))
        }
        let image = try BzImage(bytes: Array(FileManager.default.contents(atPath: bzImageURL.path) ?? Data()))
        log("kernel: extracting vmlinux (\(image.compression?.rawValue ?? "unknown") payload)")
        let vmlinux = staging.appendingPathComponent(GuestAssets.kernelFileName)
        try image.extractVmlinux(to: vmlinux)
        guard let elf = FileManager.default.contents(atPath: vmlinux.path),
            let entryPoint = KernelImage.pvhEntry(inELF: Array(elf))
        else {
            throw GuestBuildError("kernel: the vmlinux of \(package) has no PVH entry note")
        }
        log("kernel: PVH entry 0x\(String(entryPoint, radix: 16))")
        try? FileManager.default.removeItem(at: unpacked)
        try? FileManager.default.removeItem(at: deb)
        try finish(staging, as: entry, flavor: .standard, provenance: "\(package) \(version)\n")
        log("kernel: standard \(key.digest) → \(entry.path)")
        return entry
    }

    /// The versioned kernel package the cloud metapackage depends on.
    func standardPackageName() throws(GuestBuildError) -> String {
        let text = try output(["apt-cache", "depends", Self.standardMetapackage])
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("Depends: linux-image-") else { continue }
            return String(trimmed.dropFirst("Depends: ".count))
        }
        throw GuestBuildError("kernel: `apt-cache depends \(Self.standardMetapackage)` names no kernel package")
    }

    // MARK: - helpers

    /// Deletes a ~1 GB build tree without waiting: under load that takes minutes, and
    /// nothing reads the tree once the entry is in place. The name is changed first so a
    /// new build with the same key never races the deletion.
    private func removeInBackground(_ tree: URL) {
        let doomed = tree.appendingPathExtension("delete-\(getpid())")
        guard (try? FileManager.default.moveItem(at: tree, to: doomed)) != nil else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["rm", "-rf", doomed.path]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
    }

    private func isComplete(_ entry: URL) -> Bool {
        FileManager.default.fileExists(atPath: entry.appendingPathComponent(GuestCache.completeMarker).path)
    }

    /// Writes the command line, provenance and marker, then renames staging into place,
    /// so a cache entry is either complete or absent.
    private func finish(
        _ staging: URL, as entry: URL, flavor: GuestFlavor, provenance: String
    )
        throws(GuestBuildError)
    {
        try write(
            flavor.requiredCommandLine + "\n", to: staging.appendingPathComponent(GuestAssets.commandLineFileName))
        try write(provenance, to: staging.appendingPathComponent("SOURCE"))
        try write(
            ISO8601DateFormatter().string(from: Date()) + "\n",
            to: staging.appendingPathComponent(GuestCache.completeMarker))
        try? FileManager.default.removeItem(at: entry)
        do {
            try FileManager.default.moveItem(at: staging, to: entry)
        } catch {
            throw GuestBuildError("kernel: cannot move \(staging.path) to \(entry.path): \(error)")
        }
    }

    private func download(_ package: String, into folder: URL) throws(GuestBuildError) -> URL {
        try step("apt-get download \(package)", ["apt-get", "download", "-q", package], in: folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        guard let deb = names.first(where: { $0.hasPrefix(package + "_") && $0.hasSuffix(".deb") }) else {
            throw GuestBuildError("kernel: apt-get download \(package) left no .deb in \(folder.path)")
        }
        return folder.appendingPathComponent(deb)
    }

    private func step(_ what: String, _ arguments: [String], in directory: URL? = nil) throws(GuestBuildError) {
        log("kernel: \(what)")
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(arguments, in: directory)
        } catch {
            throw GuestBuildError("kernel: \(what): \(error)")
        }
        if !result.succeeded {
            throw GuestBuildError(
                "kernel: \(what) failed (status \(result.status)): \(result.output.suffix(2000))")
        }
    }

    private func output(_ arguments: [String]) throws(GuestBuildError) -> String {
        guard let result = try? ProcessRunner.run(arguments), result.succeeded else {
            throw GuestBuildError("kernel: `\(arguments.joined(separator: " "))` failed")
        }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func makeDirectory(_ url: URL) throws(GuestBuildError) {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw GuestBuildError("kernel: cannot create \(url.path): \(error)")
        }
    }

    private func copy(_ source: URL, to destination: URL) throws(GuestBuildError) {
        do {
            try FileManager.default.copyItem(at: source, to: destination)
        } catch {
            throw GuestBuildError("kernel: cannot copy \(source.path): \(error)")
        }
    }

    private func write(_ text: String, to url: URL) throws(GuestBuildError) {
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw GuestBuildError("kernel: cannot write \(url.path): \(error)")
        }
    }
}

/// Runs a child process and hands each output line (stdout and stderr merged) to a
/// callback as it arrives, for progress and for timestamping guest consoles.
public enum LineStreamingProcess {
    /// Runs `arguments` (looked up on `PATH`); returns the exit status (128 + signal when killed).
    /// `onLine` returns nothing; to stop early, `onStart` receives the `Process` to terminate.
    public static func run(
        _ arguments: [String], in directory: URL? = nil, onStart: (Process) -> Void = { _ in },
        onLine: (String) -> Void
    ) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        onStart(process)
        var buffer: [UInt8] = []
        let reader = pipe.fileHandleForReading
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            for byte in chunk {
                if byte == 0x0a {
                    onLine(String(decoding: buffer, as: UTF8.self))
                    buffer.removeAll(keepingCapacity: true)
                } else if byte != 0x0d {
                    buffer.append(byte)
                }
            }
        }
        if !buffer.isEmpty { onLine(String(decoding: buffer, as: UTF8.self)) }
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
    }
}
