// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// A package's source archive as it will be published.
public struct StagedArchive: Sendable {
    /// The package.
    public var package: String
    /// The zip bytes (`<package>/...`, manifests rewritten for the registry).
    public var bytes: [UInt8]
    /// Hex SHA-256 of `bytes`.
    public var checksum: String
    /// The rewritten `Package.swift`.
    public var manifest: String
    /// Library products and the modules they vend, from `swift package dump-package`.
    public var libraries: [(product: String, modules: [String])]
}

/// Builds source archives from git: the package folder at a revision (a release tag, or HEAD
/// for dry runs), with every `Package.swift` / `Package@swift-*.swift` rewritten from path
/// dependencies to registry identities, zipped with the `swift package archive-source` layout
/// (one top-level folder named after the package). The same revision always gives the same
/// bytes: entries are sorted, stored, and stamped with the commit time.
///
/// ```swift
/// let archive = try ReleaseArchiver(workspace: workspace, scope: "swift-vmm")
///     .stage("VMMemory", at: "VMMemory-v0.1.1", requires: ["VMMSysUtil": v, "PortableTesting": w])
/// ```
public struct ReleaseArchiver: Sendable {
    /// The workspace.
    public let workspace: Workspace
    /// The registry scope dependencies are rewritten to.
    public let scope: String

    /// Creates an archiver.
    public init(workspace: Workspace, scope: String) {
        self.workspace = workspace
        self.scope = scope
    }

    /// Stages, rewrites and zips `package` at `revision` (nil: the work tree's tracked and
    /// untracked, not ignored, files — what a commit now would hold), then checks that the
    /// rewritten manifest evaluates (`swift package dump-package`) and reads its library products.
    public func stage(
        _ package: String, at revision: String?, requires: [String: SemanticVersion]
    )
        throws(ReleaseError) -> StagedArchive
    {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-release-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let folder = scratch.appendingPathComponent(package)
        let git = ReleaseGit(root: workspace.root)
        if let revision {
            try git.export("Packages/\(package)", at: revision, to: folder)
        } else {
            try git.copyWorkTree("Packages/\(package)", to: folder)
        }
        let rewriter = ManifestRewriter(scope: scope, versions: requires)
        var manifest = ""
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        guard files.contains("Package.swift") else {
            throw ReleaseError(.manifest, "\(package) has no Package.swift at \(revision ?? "the work tree")")
        }
        for file in files where file == "Package.swift" || RegistryService.variantVersion(file) != nil {
            let url = folder.appendingPathComponent(file)
            do {
                let rewritten = try rewriter.rewrite(String(contentsOf: url, encoding: .utf8), package: package)
                try rewritten.write(to: url, atomically: true, encoding: .utf8)
                if file == "Package.swift" { manifest = rewritten }
            } catch let error as ReleaseError {
                throw error
            } catch {
                throw ReleaseError(.io, "cannot rewrite \(package)/\(file): \(error)")
            }
        }
        let entries = try ZipArchive.entries(fromDirectory: folder, prefix: package)
        // Work-tree archives are never published, so they take the zip epoch (1980-01-01).
        var stamp = Date(timeIntervalSince1970: 315_532_800)
        if let revision { stamp = try git.commitDate(revision) }
        let bytes = try ZipArchive.write(entries, modified: stamp)
        let libraries = try Self.libraries(of: folder, package: package, temporary: scratch)
        return StagedArchive(
            package: package, bytes: bytes, checksum: SHA256.hex(bytes), manifest: manifest, libraries: libraries)
    }

    /// Library products of the package in `folder`, by evaluating its manifest.
    /// SwiftPM's lock files go to `temporary` (TMPDIR), which the caller removes.
    static func libraries(
        of folder: URL, package: String, temporary: URL
    ) throws(ReleaseError) -> [(
        product: String, modules: [String]
    )] {
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(
                ["swift", "package", "dump-package", "--package-path", folder.path],
                environment: ["TMPDIR": temporary.path])
        } catch {
            throw ReleaseError(.manifest, "\(error)")
        }
        guard result.succeeded, let start = result.output.firstIndex(of: "{"),
            let value = try? JSONValue.parse(Array(result.output[start...].utf8)),
            case .array(let products)? = value["products"]
        else {
            let first = result.output.split(separator: "\n").prefix(3).joined(separator: " | ")
            throw ReleaseError(.manifest, "\(package): the rewritten manifest does not evaluate: \(first)")
        }
        return products.compactMap { product -> (String, [String])? in
            guard let name = product["name"]?.stringValue, product["type"]?["library"] != nil,
                case .array(let targets)? = product["targets"]
            else { return nil }
            return (name, targets.compactMap(\.stringValue))
        }
    }
}
