// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// What the next release contains: every package changed since its last `<Name>-vX.Y.Z` tag,
/// every package that depends on one of them (it must follow with new exact requirements),
/// dependencies first, each with its next version and why.
///
/// Bump rules (see `ChangeKind`): the strongest entry under `## Upcoming` decides; a package
/// that only follows its dependencies gets a patch bump; and a breaking bump of a dependency
/// makes the dependent's bump breaking too, because our packages expose their dependencies'
/// types (VMMemoryLinux throws VMMSysUtil's `SystemError`) and pin them exactly. A package
/// never released is released as 0.1.0.
///
/// ```swift
/// let plan = try ReleasePlanner(workspace: workspace).plan()
/// for item in plan.items { print(item.package, item.next, item.reason) }
/// ```
public struct ReleasePlan: Sendable, Equatable {
    /// One package of the release.
    public struct Item: Sendable, Equatable {
        /// The package.
        public var package: String
        /// Its released version, or nil for a first release.
        public var current: SemanticVersion?
        /// The version it will be released as.
        public var next: SemanticVersion
        /// The part bumped, or nil for a first release.
        public var bump: Bump?
        /// Why it is released and why with this bump.
        public var reason: String
        /// Files changed since the last tag, relative to the package folder.
        public var changedFiles: [String]
        /// Dependencies in this release that it follows.
        public var follows: [String]
        /// The strongest change this release carries (its own or a followed breaking one).
        public var kind: ChangeKind
        /// Why `prepare` would refuse this package, if it would.
        public var problem: ReleaseError?
    }

    /// Packages to release, dependencies first.
    public var items: [Item]
    /// Packages prepared but not yet published (and verified) at these versions.
    public var pending: [String: SemanticVersion]

    /// True when nothing needs releasing.
    public var isEmpty: Bool { items.isEmpty }
    /// Every problem, as `Package: problem`.
    public var problems: [String] {
        items.compactMap { item in item.problem.map { "\(item.package): \($0.description)" } }
    }

    /// Human-readable lines.
    public func renderText() -> String {
        var lines: [String] = []
        for (name, version) in pending.sorted(by: { $0.key < $1.key }) {
            lines.append("pending: \(name) \(version) is prepared but not published; run `vmm-tools release publish`")
        }
        if items.isEmpty { lines.append("nothing to release: no package changed since its last tag") }
        for (index, item) in items.enumerated() {
            let from = item.current.map { "\($0) -> " } ?? ""
            let bump = item.bump.map { " (\($0.rawValue))" } ?? " (first release)"
            lines.append("\(index + 1). \(item.package) \(from)\(item.next)\(bump): \(item.reason)")
            if let problem = item.problem { lines.append("   problem: \(problem.description)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `{"order": [...], "packages": [{"name", "current", "next", "bump", "reason", "changedFiles", "follows", "problem"}], "pending": {...}}`.
    public func renderJSON() -> String {
        let packages: [JSONValue] = items.map { item in
            .object([
                "name": .string(item.package),
                "current": item.current.map { .string($0.description) } ?? .null,
                "next": .string(item.next.description),
                "bump": item.bump.map { .string($0.rawValue) } ?? .null,
                "kind": .string(["fix", "feature", "breaking"][item.kind.rawValue]),
                "reason": .string(item.reason),
                "changedFiles": .array(item.changedFiles.map(JSONValue.string)),
                "follows": .array(item.follows.map(JSONValue.string)),
                "problem": item.problem.map { .string($0.description) } ?? .null,
            ])
        }
        let value = JSONValue.object([
            "order": .array(items.map { .string($0.package) }),
            "packages": .array(packages),
            "pending": .object(pending.mapValues { .string($0.description) }),
        ])
        return String(decoding: value.serialized(), as: UTF8.self) + "\n"
    }
}

/// Computes a `ReleasePlan` from the workspace, its git tags and release/ files.
public struct ReleasePlanner: Sendable {
    /// The workspace.
    public let workspace: Workspace

    /// Creates a planner.
    public init(workspace: Workspace) { self.workspace = workspace }

    /// Each package's sibling dependencies, read from the `.package(path: "../X")` lines of its
    /// manifest — the same lines publishing rewrites, so order and rewrite always agree.
    public func dependencyGraph() throws(ReleaseError) -> DependencyGraph {
        var edges: [String: Set<String>] = [:]
        for name in workspace.packageNames() {
            let url = workspace.packageDirectory(name).appendingPathComponent("Package.swift")
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                throw ReleaseError(.manifest, "cannot read Packages/\(name)/Package.swift")
            }
            let dependencies = try ManifestRewriter.pathDependencies(in: text)
            for dependency in dependencies where !workspace.packageNames().contains(dependency) {
                throw ReleaseError(.manifest, "\(name) depends on ../\(dependency), which is not a package")
            }
            edges[name] = Set(dependencies)
        }
        return DependencyGraph(edges)
    }

    /// The plan. Problems (an empty Upcoming where code changed, a malformed changelog) are
    /// reported on the items rather than thrown, so the whole plan is always shown.
    public func plan() throws(ReleaseError) -> ReleasePlan {
        let graph = try dependencyGraph()
        let order: [String]
        do {
            order = try graph.topologicalOrder()
        } catch {
            throw ReleaseError(.state, error.description)
        }
        let versions = try ReleaseVersions.load(workspace)
        let record = try ReleaseRecord.load(workspace)
        let git = ReleaseGit(root: workspace.root)
        var pending: [String: SemanticVersion] = [:]
        var items: [ReleasePlan.Item] = []
        var planned: [String: ReleasePlan.Item] = [:]
        for name in order {
            let released = versions.packages[name]?.version
            if let released, !record.has(.verified, name, released) {
                pending[name] = released
                continue
            }
            let tag = released.map { "\(name)-v\($0)" }
            if let tag, !git.tagExists(tag) {
                throw ReleaseError(.state, "\(name) \(released!) is recorded as released but tag \(tag) is missing")
            }
            let changed = try git.changedFiles(in: "Packages/\(name)", since: tag)
            let codeChanged = changed.contains { $0 != "CHANGELOG.md" }
            let follows = (graph.dependencies[name] ?? []).filter { planned[$0] != nil }.sorted()
            var changelog: Changelog?
            var problem: ReleaseError?
            let changelogURL = workspace.packageDirectory(name).appendingPathComponent("CHANGELOG.md")
            if let text = try? String(contentsOf: changelogURL, encoding: .utf8) {
                do {
                    changelog = try Changelog(text)
                } catch {
                    problem = error
                }
            } else {
                problem = ReleaseError(.changelog, "CHANGELOG.md is missing or not UTF-8")
            }
            let hasUpcoming = !(changelog?.isUpcomingEmpty ?? true)
            guard released == nil || codeChanged || hasUpcoming || !follows.isEmpty else { continue }
            if problem == nil && !hasUpcoming && (released == nil || codeChanged) {
                problem = ReleaseError(
                    .emptyUpcoming,
                    released == nil
                        ? "first release, but '## Upcoming' in CHANGELOG.md is empty"
                        : "\(changed.count) files changed since \(tag!), but '## Upcoming' in CHANGELOG.md is empty")
            }
            let followedBreaking = follows.filter { planned[$0]?.kind == .breaking }
            let own = changelog?.upcomingKind
            var kind = own ?? .fix
            if !followedBreaking.isEmpty { kind = .breaking }
            var reasons: [String] = []
            if hasUpcoming, let changelog { reasons.append("Upcoming: " + Self.summary(changelog)) }
            if !follows.isEmpty {
                reasons.append(
                    "follows "
                        + follows.map {
                            "\($0) \(planned[$0]!.next)\(followedBreaking.contains($0) ? " (breaking)" : "")"
                        }
                        .joined(separator: ", "))
            }
            let item: ReleasePlan.Item
            if let released {
                let bump = kind.bump(from: released)
                item = ReleasePlan.Item(
                    package: name, current: released, next: released.bumped(bump), bump: bump,
                    reason: reasons.joined(separator: "; "), changedFiles: changed, follows: follows, kind: kind,
                    problem: problem)
            } else {
                item = ReleasePlan.Item(
                    package: name, current: nil, next: .firstRelease, bump: nil,
                    reason: (["first release"] + reasons).joined(separator: "; "), changedFiles: changed,
                    follows: follows, kind: kind, problem: problem)
            }
            planned[name] = item
            items.append(item)
        }
        return ReleasePlan(items: items, pending: pending)
    }

    /// `2 Added, 1 Changed (breaking: "**Breaking** `run()` throws")`.
    static func summary(_ changelog: Changelog) -> String {
        var counts: [String: Int] = [:]
        for entry in changelog.upcoming { counts[entry.section, default: 0] += 1 }
        let order = ["Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"]
        var text = order.compactMap { section in counts[section].map { "\($0) \(section)" } }.joined(separator: ", ")
        if let breaking = changelog.upcoming.first(where: \.isBreaking) {
            let line = breaking.text.split(separator: "\n").first.map(String.init) ?? ""
            text += " (breaking: \(line.count > 60 ? String(line.prefix(57)) + "..." : line))"
        }
        return text
    }
}
