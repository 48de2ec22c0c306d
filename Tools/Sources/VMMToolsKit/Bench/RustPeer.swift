// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// Why a Rust peer benchmark could not be built or run.
public struct RustPeerError: Error, CustomStringConvertible, Equatable {
    /// One line, with the tail of cargo's output when it failed.
    public var description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// A small Rust program built offline against the crates Debian ships in
/// `/usr/share/cargo/registry` (`librust-<crate>-dev`), so a rust-vmm crate can be
/// measured in the same run as our package: no network, no crates.io.
///
/// The program lives in a temporary folder created for the run and removed after.
///
/// ```swift
/// let peer = RustPeer(
///     name: "superio-bench", dependencies: ["vm-superio": "0.7"], mainSource: source)
/// let output = try peer.buildAndRun(arguments: ["20000000"])
/// ```
public struct RustPeer: Sendable {
    /// The Debian cargo registry (directory source).
    public static let debianRegistry = "/usr/share/cargo/registry"

    /// Package name of the program.
    public var name: String
    /// Crate name → version requirement.
    public var dependencies: [String: String]
    /// Contents of `src/main.rs`.
    public var mainSource: String

    /// Describes a program.
    public init(name: String, dependencies: [String: String], mainSource: String) {
        self.name = name
        self.dependencies = dependencies
        self.mainSource = mainSource
    }

    /// The version of `crate` in the Debian registry (`vm-superio-0.7.0` → "0.7.0"), if installed.
    public static func installedVersion(of crate: String) -> String? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: debianRegistry)) ?? []
        return
            entries
            .filter { $0.hasPrefix(crate + "-") && $0.dropFirst(crate.count + 1).first?.isNumber == true }
            .map { String($0.dropFirst(crate.count + 1)) }
            .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
            .last
    }

    /// `rustc --version` of the toolchain on `PATH` (what `cargo` will use).
    public static var toolchain: String {
        guard let result = try? ProcessRunner.run(["rustc", "--version"]), result.succeeded else {
            return "rustc not found"
        }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `Cargo.toml` of the program: release profile at opt-level 3 (cargo's default).
    public var manifest: String {
        var lines = [
            "[package]", "name = \"\(name)\"", "version = \"0.1.0\"", "edition = \"2018\"", "", "[dependencies]",
        ]
        for (crate, version) in dependencies.sorted(by: { $0.key < $1.key }) {
            lines.append("\(crate) = \"\(version)\"")
        }
        lines += ["", "[profile.release]", "opt-level = 3", "debug = false", ""]
        return lines.joined(separator: "\n")
    }

    /// Cargo configuration that replaces crates.io with the Debian registry.
    public static var offlineConfiguration: String {
        """
        [source.crates-io]
        replace-with = "debian"

        [source.debian]
        directory = "\(debianRegistry)"

        [net]
        offline = true

        """
    }

    /// Builds the program with `cargo build --release --offline` in a fresh
    /// temporary folder, runs it with `arguments`, and returns its standard output.
    public func buildAndRun(arguments: [String]) throws -> String {
        try withBinary { binary in try Self.run(binary, arguments: arguments) }
    }

    /// Builds the program in a fresh temporary folder and hands the binary's path
    /// to `body` (which may run it many times, interleaved with our own side);
    /// the folder is removed afterwards.
    public func withBinary<R>(_ body: (String) throws -> R) throws -> R {
        let fileManager = FileManager.default
        let folder = fileManager.temporaryDirectory.appendingPathComponent("swift-vmm-\(name)-\(UUID().uuidString)")
        defer { try? fileManager.removeItem(at: folder) }
        do {
            try fileManager.createDirectory(
                at: folder.appendingPathComponent("src"), withIntermediateDirectories: true)
            try fileManager.createDirectory(
                at: folder.appendingPathComponent(".cargo"), withIntermediateDirectories: true)
            try manifest.write(to: folder.appendingPathComponent("Cargo.toml"), atomically: true, encoding: .utf8)
            try Self.offlineConfiguration.write(
                to: folder.appendingPathComponent(".cargo/config.toml"), atomically: true, encoding: .utf8)
            try mainSource.write(to: folder.appendingPathComponent("src/main.rs"), atomically: true, encoding: .utf8)
        } catch {
            throw RustPeerError("cannot write the \(name) project in \(folder.path): \(error)")
        }
        let build = try ProcessRunner.run(
            ["cargo", "build", "--release", "--offline", "--quiet"], in: folder,
            environment: ["CARGO_TARGET_DIR": folder.appendingPathComponent("target").path])
        guard build.succeeded else {
            throw RustPeerError("cargo build of \(name) failed: \(build.output.suffix(2000))")
        }
        return try body(folder.appendingPathComponent("target/release/\(name)").path)
    }

    /// Runs a built peer binary and returns its standard output.
    public static func run(_ binary: String, arguments: [String]) throws -> String {
        let run = try ProcessRunner.run([binary] + arguments)
        guard run.succeeded else {
            throw RustPeerError("\(binary) exited with status \(run.status): \(run.output.suffix(2000))")
        }
        return run.output
    }
}
