// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// Why a workspace could not be read.
public struct WorkspaceError: Error, CustomStringConvertible, Equatable {
    /// A one-line explanation.
    public var description: String
    /// Creates an error with a one-line explanation.
    public init(_ description: String) { self.description = description }
}

/// The swift-vmm monorepo on disk: a root `Package.swift` and `Packages/<Name>/`.
public struct Workspace: Sendable {
    /// The repository root (the folder holding the root `Package.swift`).
    public let root: URL

    /// Uses `root` as the workspace root without searching.
    public init(root: URL) { self.root = root.standardizedFileURL }

    /// Finds the workspace root: the nearest folder at or above `start` that has
    /// both `Package.swift` and `Packages/`.
    public static func locate(
        from start: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    )
        throws(WorkspaceError) -> Workspace
    {
        var candidate = start.standardizedFileURL
        while true {
            let manifest = candidate.appendingPathComponent("Package.swift").path
            let packages = candidate.appendingPathComponent("Packages").path
            if FileManager.default.fileExists(atPath: manifest) && FileManager.default.fileExists(atPath: packages) {
                return Workspace(root: candidate)
            }
            let parent = candidate.deletingLastPathComponent()
            if parent.path == candidate.path {
                throw WorkspaceError(
                    "no swift-vmm workspace (Package.swift next to Packages/) at or above \(start.path)")
            }
            candidate = parent
        }
    }

    /// `Packages/` under the root.
    public var packagesDirectory: URL { root.appendingPathComponent("Packages") }

    /// Names of the folders under `Packages/` that hold a `Package.swift`, sorted.
    public func packageNames() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: packagesDirectory.path)) ?? []
        return entries.filter { name in
            FileManager.default.fileExists(
                atPath: packagesDirectory.appendingPathComponent(name).appendingPathComponent("Package.swift").path)
        }.sorted()
    }

    /// The folder of package `name`.
    public func packageDirectory(_ name: String) -> URL { packagesDirectory.appendingPathComponent(name) }

    /// A path relative to the root, for messages (`Packages/A/Package.swift`).
    public func relativePath(_ url: URL) -> String {
        let full = url.standardizedFileURL.path
        let prefix = root.path.hasSuffix("/") ? root.path : root.path + "/"
        return full.hasPrefix(prefix) ? String(full.dropFirst(prefix.count)) : full
    }

    /// Every file below the root whose extension is in `extensions`, skipping
    /// hidden folders (`.build`, `.git`, ...) and nested build folders.
    public func files(withExtensions extensions: Set<String>) -> [URL] {
        var result: [URL] = []
        guard
            let enumerator = FileManager.default.enumerator(
                at: root, includingPropertiesForKeys: [.isDirectoryKey], options: [.skipsHiddenFiles])
        else { return [] }
        for case let url as URL in enumerator {
            let name = url.lastPathComponent
            if name.hasPrefix(".build") || name.hasPrefix(".") {
                enumerator.skipDescendants()
                continue
            }
            if extensions.contains(url.pathExtension) { result.append(url) }
        }
        return result.sorted { $0.path < $1.path }
    }
}
