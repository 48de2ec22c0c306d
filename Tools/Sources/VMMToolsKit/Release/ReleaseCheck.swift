// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// The release dry run `vmm-tools ci` runs: reads release/config.json, computes the plan,
/// performs `prepare` in memory (every changelog must release cleanly), and builds every
/// planned package's source archive from the work tree (what a commit now would hold) with
/// its manifest rewritten for the registry at the planned versions, checking that the
/// rewritten manifest evaluates. Nothing is written, tagged or uploaded, and no registry is
/// contacted; uncommitted changes are only noted.
///
/// ```swift
/// let check = try ReleaseCheck(workspace: workspace).run()
/// print(check.verdict)
/// ```
public struct ReleaseCheck: Sendable {
    /// The outcome.
    public struct Result: Sendable {
        /// True when a release could be prepared and archived as things stand.
        public var passed: Bool
        /// One line per finding and package.
        public var lines: [String]
        /// One-line summary.
        public var verdict: String
    }

    /// The workspace.
    public let workspace: Workspace

    /// Creates a check.
    public init(workspace: Workspace) { self.workspace = workspace }

    /// Runs the check; problems are reported in the result, not thrown.
    public func run() -> Result {
        var lines: [String] = []
        do {
            let configuration = try ReleaseConfiguration.load(workspace)
            let git = ReleaseGit(root: workspace.root)
            let dirty = try git.dirtyPaths()
            if !dirty.isEmpty { lines.append("note: \(dirty.count) uncommitted paths; a real prepare would refuse") }
            let plan = try ReleasePlanner(workspace: workspace).plan()
            for (name, version) in plan.pending.sorted(by: { $0.key < $1.key }) {
                lines.append("note: \(name) \(version) is prepared but not yet published")
            }
            if !plan.problems.isEmpty {
                lines += plan.problems
                return Result(
                    passed: false, lines: lines, verdict: "\(plan.problems.count) packages cannot be prepared")
            }
            guard !plan.isEmpty else {
                return Result(passed: true, lines: lines, verdict: "nothing to release")
            }
            _ = try ReleasePreparer(workspace: workspace, dryRun: true).changes(for: plan)
            var next = try ReleaseVersions.load(workspace).packages.mapValues(\.version)
            for item in plan.items { next[item.package] = item.next }
            let graph = try ReleasePlanner(workspace: workspace).dependencyGraph()
            let archiver = ReleaseArchiver(workspace: workspace, scope: configuration.scope)
            for item in plan.items {
                var requires: [String: SemanticVersion] = [:]
                for dependency in graph.dependencies[item.package] ?? [] { requires[dependency] = next[dependency] }
                let archive = try archiver.stage(item.package, at: nil, requires: requires)
                lines.append(
                    "\(item.package) \(item.current.map { "\($0) -> " } ?? "")\(item.next): archive \(archive.bytes.count) bytes, \(archive.libraries.count) library products; \(item.reason)"
                )
            }
            lines.append("order: " + plan.items.map { "\($0.package) \($0.next)" }.joined(separator: ", "))
            return Result(passed: true, lines: lines, verdict: "\(plan.items.count) packages would be released")
        } catch {
            lines.append("release: \(error.description)")
            return Result(passed: false, lines: lines, verdict: error.description)
        }
    }
}
