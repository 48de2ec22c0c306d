// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// `release prepare`: turns a plan into files. For each package of the plan it moves the
/// `## Upcoming` entries under `## vX.Y.Z — date` (leaving an empty Upcoming), records the
/// version and the exact versions of its sibling dependencies in release/versions.json, and
/// appends `prepared` events to release/record.jsonl. The changes are left for you to commit.
///
/// It refuses a dirty work tree, a plan with problems (code changed but Upcoming empty), and
/// packages prepared earlier but not yet published.
///
/// ```swift
/// let report = try ReleasePreparer(workspace: workspace, dryRun: true).prepare()
/// report.lines.forEach { print($0) }
/// ```
public struct ReleasePreparer: Sendable {
    /// What `prepare` did (or, in a dry run, would do).
    public struct Report: Sendable, Equatable {
        /// The plan it acted on.
        public var plan: ReleasePlan
        /// One line per action.
        public var lines: [String]
        /// The new content of each file written, by path relative to the root.
        public var files: [String: String]
    }

    /// The workspace.
    public let workspace: Workspace
    /// Compute and report, write nothing.
    public let dryRun: Bool
    /// The release date for changelog headings, `YYYY-MM-DD` (default: today, UTC).
    public let date: String

    /// Creates a preparer.
    public init(workspace: Workspace, dryRun: Bool = false, date: String? = nil) {
        self.workspace = workspace
        self.dryRun = dryRun
        self.date = date ?? Self.today()
    }

    /// Runs `prepare`.
    public func prepare() throws(ReleaseError) -> Report {
        let git = ReleaseGit(root: workspace.root)
        let dirty = try git.dirtyPaths()
        guard dirty.isEmpty else {
            throw ReleaseError(
                .dirtyTree,
                "the work tree has uncommitted changes (\(dirty.prefix(5).joined(separator: ", "))\(dirty.count > 5 ? ", ..." : "")); commit or stash them first"
            )
        }
        let plan = try ReleasePlanner(workspace: workspace).plan()
        if let (name, version) = plan.pending.sorted(by: { $0.key < $1.key }).first {
            throw ReleaseError(
                .state, "\(name) \(version) is prepared but not published; run `vmm-tools release publish` first")
        }
        for item in plan.items {
            if let problem = item.problem {
                throw ReleaseError(problem.kind, "\(item.package): \(problem.description)")
            }
        }
        let (files, lines) = try changes(for: plan)
        if !dryRun {
            for (path, text) in files.sorted(by: { $0.key < $1.key }) {
                do {
                    try text.write(to: workspace.root.appendingPathComponent(path), atomically: true, encoding: .utf8)
                } catch {
                    throw ReleaseError(.io, "cannot write \(path): \(error)")
                }
            }
            var record = try ReleaseRecord.load(workspace)
            for item in plan.items {
                let detail = (item.bump.map { "\($0.rawValue): " } ?? "") + item.reason
                try record.append(
                    .init(.prepared, package: item.package, version: item.next, detail: detail), in: workspace)
            }
        }
        var report = lines
        if plan.isEmpty {
            report.append("nothing to prepare: no package changed since its last tag")
        } else if dryRun {
            report.append("dry run: nothing written")
        } else {
            report.append(
                "prepared \(plan.items.count) packages; commit the changes, then run `vmm-tools release publish`")
        }
        return Report(plan: plan, lines: report, files: files)
    }

    /// The changelogs and versions file the plan produces, with one line per package.
    func changes(for plan: ReleasePlan) throws(ReleaseError) -> (files: [String: String], lines: [String]) {
        guard !plan.isEmpty else { return ([:], []) }
        let graph = try ReleasePlanner(workspace: workspace).dependencyGraph()
        var versions = try ReleaseVersions.load(workspace)
        var next: [String: SemanticVersion] = versions.packages.mapValues(\.version)
        for item in plan.items { next[item.package] = item.next }
        var files: [String: String] = [:]
        var lines: [String] = []
        for item in plan.items {
            var requires: [String: SemanticVersion] = [:]
            for dependency in (graph.dependencies[item.package] ?? []).sorted() {
                guard let version = next[dependency] else {
                    throw ReleaseError(.state, "\(item.package) depends on \(dependency), which has no version")
                }
                requires[dependency] = version
            }
            versions.packages[item.package] = ReleaseVersions.Entry(version: item.next, requires: requires)
            let path = "Packages/\(item.package)/CHANGELOG.md"
            let text: String
            do {
                text = try String(contentsOf: workspace.root.appendingPathComponent(path), encoding: .utf8)
            } catch {
                throw ReleaseError(.io, "cannot read \(path): \(error)")
            }
            let followed = item.follows.map { "\($0) \(next[$0]!)" }.joined(separator: ", ")
            let fallback = "### Changed\n- Requires \(followed) (released together)."
            let released = try Changelog(text).releasing(item.next, date: date, fallback: fallback)
            files[path] = released.text
            lines.append("\(item.package) \(item.next): \(path) gets '## v\(item.next) — \(date)'")
        }
        files[ReleaseVersions.relativePath] = versions.encoded()
        lines.append("\(ReleaseVersions.relativePath): \(plan.items.count) versions and their requirements")
        return (files, lines)
    }

    static func today() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Date())
    }
}
