// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// The git operations releases need, run in the workspace root.
public struct ReleaseGit: Sendable {
    /// The workspace root (inside a git work tree).
    public let root: URL

    /// Creates a helper for the repository holding `root`.
    public init(root: URL) { self.root = root }

    /// Runs `git <arguments>` in the root; returns its output or throws with it.
    @discardableResult
    public func run(_ arguments: [String]) throws(ReleaseError) -> String {
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(["git", "-C", root.path] + arguments)
        } catch {
            throw ReleaseError(.git, "\(error)")
        }
        guard result.succeeded else {
            let first = result.output.split(separator: "\n").prefix(3).joined(separator: " | ")
            throw ReleaseError(.git, "git \(arguments.joined(separator: " ")) failed: \(first)")
        }
        return result.output
    }

    /// Paths (relative to the root) with uncommitted changes or untracked files, minus `ignoring`.
    public func dirtyPaths(ignoring: Set<String> = []) throws(ReleaseError) -> [String] {
        let output = try run(["status", "--porcelain=v1", "--untracked-files=all", "--", "."])
        return output.split(separator: "\n").compactMap { line -> String? in
            guard line.count > 3 else { return nil }
            var path = String(line.dropFirst(3))
            if let arrow = path.range(of: " -> ") { path = String(path[arrow.upperBound...]) }
            if path.hasPrefix("\"") && path.hasSuffix("\"") { path = String(path.dropFirst().dropLast()) }
            return ignoring.contains(path) ? nil : path
        }
    }

    /// The release tags of `package` (`<package>-vX.Y.Z`), highest first.
    public func releaseTags(of package: String) throws(ReleaseError) -> [SemanticVersion] {
        let prefix = "\(package)-v"
        return try run(["tag", "--list", "\(prefix)*"]).split(separator: "\n").compactMap { tag in
            try? SemanticVersion(tag.dropFirst(prefix.count))
        }.sorted(by: >)
    }

    /// True when the tag exists.
    public func tagExists(_ tag: String) -> Bool {
        (try? run(["rev-parse", "-q", "--verify", "refs/tags/\(tag)"])) != nil
    }

    /// Files under `directory` (relative to the root) that differ from `revision` in the work
    /// tree, plus untracked ones, relative to `directory`. With no revision, every file there.
    public func changedFiles(in directory: String, since revision: String?) throws(ReleaseError) -> [String] {
        var paths: Set<String> = []
        let untracked = try run(["ls-files", "--others", "--exclude-standard", "--", directory])
        paths.formUnion(untracked.split(separator: "\n").map(String.init))
        if let revision {
            let changed = try run(["diff", "--name-only", "--no-renames", revision, "--", directory])
            paths.formUnion(changed.split(separator: "\n").map(String.init))
        } else {
            paths.formUnion(try run(["ls-files", "--", directory]).split(separator: "\n").map(String.init))
        }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return paths.map { $0.hasPrefix(prefix) ? String($0.dropFirst(prefix.count)) : $0 }.sorted()
    }

    /// The commit `revision` names.
    public func commit(_ revision: String) throws(ReleaseError) -> String {
        try run(["rev-parse", "--verify", "\(revision)^{commit}"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The committer time of `revision`.
    public func commitDate(_ revision: String) throws(ReleaseError) -> Date {
        let text = try run(["log", "-1", "--format=%ct", revision]).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let seconds = TimeInterval(text) else { throw ReleaseError(.git, "no commit time for \(revision)") }
        return Date(timeIntervalSince1970: seconds)
    }

    /// Creates the annotated tag `name` on HEAD with `message`, kept verbatim (the default
    /// cleanup would drop changelog lines like `### Added` as comments).
    public func createTag(_ name: String, message: String) throws(ReleaseError) {
        try run(["tag", "-a", "--cleanup=verbatim", name, "-m", message, "HEAD"])
    }

    /// Writes the tree of `directory` (relative to the root) at `revision` into `destination`.
    public func export(_ directory: String, at revision: String, to destination: URL) throws(ReleaseError) {
        let tarball = destination.deletingLastPathComponent().appendingPathComponent(
            "\(destination.lastPathComponent).tar")
        defer { try? FileManager.default.removeItem(at: tarball) }
        do {
            try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)
        } catch {
            throw ReleaseError(.io, "cannot create \(destination.path): \(error)")
        }
        try run(["archive", "--format=tar", "--output=\(tarball.path)", "\(revision):./\(directory)"])
        let result: ProcessResult
        do {
            result = try ProcessRunner.run(["tar", "-x", "-f", tarball.path, "-C", destination.path])
        } catch {
            throw ReleaseError(.io, "\(error)")
        }
        guard result.succeeded else { throw ReleaseError(.io, "tar -x failed: \(result.output)") }
    }

    /// Copies the files of `directory` (relative to the root) that a commit made now would
    /// hold — tracked and untracked, not ignored, still present — into `destination`.
    public func copyWorkTree(_ directory: String, to destination: URL) throws(ReleaseError) {
        let listed = try run(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", directory])
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        let manager = FileManager.default
        for path in Set(listed.split(separator: "\0").map(String.init)) where path.hasPrefix(prefix) {
            let source = root.appendingPathComponent(path)
            guard manager.fileExists(atPath: source.path) else { continue }
            let target = destination.appendingPathComponent(String(path.dropFirst(prefix.count)))
            do {
                try manager.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try manager.copyItem(at: source, to: target)
            } catch {
                throw ReleaseError(.io, "cannot copy \(path): \(error)")
            }
        }
    }
}
