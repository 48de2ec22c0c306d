// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

/// A git repository holding a `FixtureWorkspace` (or real packages copied in), with
/// release/config.json, committed, so plan/prepare/publish run against real git.
final class ReleaseRepository: Sendable {
    let fixture: FixtureWorkspace
    var root: URL { fixture.root }
    var workspace: Workspace { fixture.workspace }

    init(packages: [String: [String]], registryURL: String = "http://127.0.0.1:9", scope: String = "swift-vmm") throws {
        fixture = try FixtureWorkspace(packages: packages)
        try writeConfiguration(registryURL: registryURL, scope: scope)
        try git("init", "-q", "-b", "main")
        try git("config", "user.name", "Release Test")
        try git("config", "user.email", "release@test.invalid")
        try git("config", "commit.gpgsign", "false")
        try git("config", "tag.gpgsign", "false")
        try commitAll("initial")
    }

    func writeConfiguration(registryURL: String, scope: String = "swift-vmm") throws {
        try fixture.write(
            ReleaseConfiguration.relativePath,
            "{ \"scope\": \"\(scope)\", \"registryURL\": \"\(registryURL)\", \"repositoryURL\": \"https://example.invalid/swift-vmm\" }\n"
        )
    }

    @discardableResult
    func git(_ arguments: String...) throws -> String {
        let result = try ProcessRunner.run(["git", "-C", root.path] + arguments)
        guard result.succeeded else {
            throw ReleaseError(.git, "git \(arguments.joined(separator: " ")): \(result.output)")
        }
        return result.output
    }

    func commitAll(_ message: String) throws {
        try git("add", "-A")
        try git("commit", "-q", "--allow-empty", "-m", message)
    }

    /// Marks every package as released at `version` without a registry: versions.json, tags, record.
    func pretendReleased(_ packages: [String: [String]], at version: SemanticVersion) throws {
        var versions = ReleaseVersions()
        var record = ReleaseRecord()
        for (name, dependencies) in packages {
            versions.packages[name] = .init(
                version: version, requires: Dictionary(uniqueKeysWithValues: dependencies.map { ($0, version) }))
            try record.append(
                .init(.verified, package: name, version: version, registry: "http://127.0.0.1:9"), in: workspace)
        }
        try versions.save(workspace)
        for name in packages.keys {
            let changelog = try fixture.read("Packages/\(name)/CHANGELOG.md")
            try fixture.write(
                "Packages/\(name)/CHANGELOG.md", try Changelog(changelog).releasing(version, date: "2026-01-01").text)
        }
        try commitAll("release \(version)")
        for name in packages.keys { try git("tag", "-a", "\(name)-v\(version)", "-m", "\(name) \(version)") }
    }
}

@Suite struct ReleaseRepositoryTests {
    static let chain: [String: [String]] = ["A": [], "B": ["A"], "C": ["B"], "D": [], "E": ["A", "D"]]

    @Test func firstReleasePlansEveryPackageInDependencyOrder() throws {
        let repository = try ReleaseRepository(packages: Self.chain)
        let plan = try ReleasePlanner(workspace: repository.workspace).plan()
        #expect(plan.items.map(\.package) == ["A", "D", "B", "E", "C"])
        #expect(plan.items.allSatisfy { $0.next == .firstRelease && $0.bump == nil && $0.problem == nil })
        #expect(plan.items.first { $0.package == "B" }?.reason == "first release; Upcoming: 1 Added; follows A 0.1.0")
        let json = try JSONValue.parse(Array(plan.renderJSON().utf8))
        #expect(json["order"] == .array(["A", "D", "B", "E", "C"].map(JSONValue.string)))
        #expect(plan.renderText().contains("3. B 0.1.0 (first release)"))
    }

    @Test func aChangeReleasesThePackageAndEveryDependentAfterIt() throws {
        let repository = try ReleaseRepository(packages: Self.chain)
        try repository.pretendReleased(Self.chain, at: SemanticVersion(major: 0, minor: 1, patch: 0))
        #expect(try ReleasePlanner(workspace: repository.workspace).plan().isEmpty)

        try repository.fixture.write(
            "Packages/A/Sources/A/More.swift", "\(FixtureWorkspace.header)\npublic let more = 2\n")
        try repository.fixture.write(
            "Packages/A/CHANGELOG.md",
            try repository.fixture.read("Packages/A/CHANGELOG.md").replacingOccurrences(
                of: "## Upcoming\n", with: "## Upcoming\n\n### Added\n- `more`.\n"))
        let plan = try ReleasePlanner(workspace: repository.workspace).plan()
        #expect(plan.items.map(\.package) == ["A", "B", "E", "C"])  // D does not depend on A
        let order = plan.items.map(\.package)
        for item in plan.items {
            for dependency in Self.chain[item.package]! where order.contains(dependency) {
                #expect(order.firstIndex(of: dependency)! < order.firstIndex(of: item.package)!)
            }
        }
        #expect(plan.items.map(\.next.description) == ["0.1.1", "0.1.1", "0.1.1", "0.1.1"])
        #expect(plan.items[0].reason == "Upcoming: 1 Added")
        #expect(plan.items[0].changedFiles == ["CHANGELOG.md", "Sources/A/More.swift"])
        #expect(plan.items[3].reason == "follows B 0.1.1")
        #expect(plan.items[3].changedFiles.isEmpty)
    }

    @Test func breakingChangesBumpTheMinorAndPropagate() throws {
        let repository = try ReleaseRepository(packages: Self.chain)
        try repository.pretendReleased(Self.chain, at: SemanticVersion(major: 0, minor: 1, patch: 0))
        try repository.fixture.write(
            "Packages/A/CHANGELOG.md",
            try repository.fixture.read("Packages/A/CHANGELOG.md").replacingOccurrences(
                of: "## Upcoming\n", with: "## Upcoming\n\n### Removed\n- `valueA()`.\n"))
        try repository.fixture.write(
            "Packages/D/CHANGELOG.md",
            try repository.fixture.read("Packages/D/CHANGELOG.md").replacingOccurrences(
                of: "## Upcoming\n", with: "## Upcoming\n\n### Fixed\n- A typo.\n"))
        let plan = try ReleasePlanner(workspace: repository.workspace).plan()
        let next = Dictionary(uniqueKeysWithValues: plan.items.map { ($0.package, $0.next.description) })
        #expect(next == ["A": "0.2.0", "D": "0.1.1", "B": "0.2.0", "E": "0.2.0", "C": "0.2.0"])
        #expect(plan.items.first { $0.package == "E" }?.reason == "follows A 0.2.0 (breaking), D 0.1.1")
        #expect(plan.items.first { $0.package == "A" }?.reason.contains("breaking: `valueA()`.") == true)
    }

    @Test func prepareWritesVersionsChangelogsAndRecord() throws {
        let repository = try ReleaseRepository(packages: ["A": [], "B": ["A"]])
        let dry = try ReleasePreparer(workspace: repository.workspace, dryRun: true, date: "2026-05-01").prepare()
        #expect(
            dry.files.keys.sorted() == ["Packages/A/CHANGELOG.md", "Packages/B/CHANGELOG.md", "release/versions.json"])
        #expect(try repository.git("status", "--porcelain").isEmpty)  // a dry run writes nothing

        let report = try ReleasePreparer(workspace: repository.workspace, date: "2026-05-01").prepare()
        #expect(report.lines.last?.hasPrefix("prepared 2 packages") == true)
        let versions = try ReleaseVersions.load(repository.workspace)
        #expect(versions.packages["B"] == .init(version: .firstRelease, requires: ["A": .firstRelease]))
        let changelog = try repository.fixture.read("Packages/B/CHANGELOG.md")
        #expect(changelog == "# Changelog\n\n## Upcoming\n\n## v0.1.0 — 2026-05-01\n\n### Added\n- Everything.\n")
        let record = try ReleaseRecord.load(repository.workspace)
        #expect(record.events.map(\.event) == [.prepared, .prepared])
        #expect(record.events.map(\.package) == ["A", "B"])

        // Prepared but unpublished: plan says so, prepare refuses to go on.
        try repository.commitAll("prepare")
        let plan = try ReleasePlanner(workspace: repository.workspace).plan()
        #expect(plan.pending == ["A": .firstRelease, "B": .firstRelease])
        let error = #expect(throws: ReleaseError.self) {
            try ReleasePreparer(workspace: repository.workspace).prepare()
        }
        #expect(error?.kind == .state)
    }

    @Test func prepareRefusesADirtyTree() throws {
        let repository = try ReleaseRepository(packages: ["A": []])
        try repository.fixture.write("Packages/A/Sources/A/New.swift", "// new\n")
        let error = #expect(throws: ReleaseError.self) {
            try ReleasePreparer(workspace: repository.workspace).prepare()
        }
        #expect(error?.kind == .dirtyTree)
        #expect(error?.description.contains("Packages/A/Sources/A/New.swift") == true)
        try repository.git("add", "-A")  // staged but uncommitted is still dirty
        #expect(throws: ReleaseError.self) { try ReleasePreparer(workspace: repository.workspace).prepare() }
    }

    @Test func prepareRefusesCodeChangesWithAnEmptyUpcoming() throws {
        let repository = try ReleaseRepository(packages: ["A": [], "B": ["A"]])
        try repository.pretendReleased(["A": [], "B": ["A"]], at: SemanticVersion(major: 0, minor: 1, patch: 0))
        try repository.fixture.write(
            "Packages/A/Sources/A/A.swift", "\(FixtureWorkspace.header)\npublic func valueA() -> Int { 2 }\n")
        try repository.commitAll("change A without a changelog entry")
        let plan = try ReleasePlanner(workspace: repository.workspace).plan()
        #expect(plan.items.first?.problem?.kind == .emptyUpcoming)
        #expect(plan.problems == ["A: 1 files changed since A-v0.1.0, but '## Upcoming' in CHANGELOG.md is empty"])
        let error = #expect(throws: ReleaseError.self) {
            try ReleasePreparer(workspace: repository.workspace).prepare()
        }
        #expect(error?.kind == .emptyUpcoming)
        // An empty Upcoming is fine for a package that only follows its dependencies.
        try repository.fixture.write(
            "Packages/A/CHANGELOG.md",
            try repository.fixture.read("Packages/A/CHANGELOG.md").replacingOccurrences(
                of: "## Upcoming\n", with: "## Upcoming\n\n### Changed\n- `valueA()` returns 2.\n"))
        try repository.commitAll("describe it")
        let report = try ReleasePreparer(workspace: repository.workspace, date: "2026-05-02").prepare()
        #expect(report.plan.items.map(\.package) == ["A", "B"])
        let changelog = try repository.fixture.read("Packages/B/CHANGELOG.md")
        #expect(changelog.contains("## v0.1.1 — 2026-05-02\n\n### Changed\n- Requires A 0.1.1 (released together).\n"))
        #expect(
            try ReleaseVersions.load(repository.workspace).packages["B"]?.requires == [
                "A": try SemanticVersion("0.1.1")
            ])
    }

    @Test func firstReleaseNeedsUpcomingEntries() throws {
        let repository = try ReleaseRepository(packages: ["A": []])
        try repository.fixture.write("Packages/A/CHANGELOG.md", "# Changelog\n\n## Upcoming\n")
        try repository.commitAll("empty changelog")
        let error = #expect(throws: ReleaseError.self) {
            try ReleasePreparer(workspace: repository.workspace).prepare()
        }
        #expect(error?.kind == .emptyUpcoming)
    }

    @Test func publishDryRunReportsEveryStepAndChangesNothing() throws {
        let repository = try ReleaseRepository(packages: ["A": [], "B": ["A"]])
        _ = try ReleasePreparer(workspace: repository.workspace, date: "2026-05-01").prepare()
        try repository.commitAll("prepare")
        let before = try repository.git("status", "--porcelain") + repository.git("tag")
        let report = try ReleasePublisher(
            workspace: repository.workspace, configuration: try ReleaseConfiguration.load(repository.workspace),
            options: .init(dryRun: true)
        ).publish()
        #expect(report.lines.contains("A 0.1.0: would create tag A-v0.1.0 on HEAD"))
        #expect(
            report.lines.contains { $0.hasPrefix("B 0.1.0: archive ") && $0.hasSuffix("requires swift-vmm.A 0.1.0") })
        #expect(
            report.lines.contains(
                "B 0.1.0: would publish swift-vmm.B 0.1.0 to http://127.0.0.1:9, then verify it resolves and builds"))
        #expect(report.uploaded.isEmpty)
        #expect(try repository.git("status", "--porcelain") + repository.git("tag") == before)
        // A real publish refuses uncommitted changes (other than the record).
        try repository.fixture.write("Packages/A/README.md", "# A\n\nchanged\n")
        let error = #expect(throws: ReleaseError.self) {
            try ReleasePublisher(
                workspace: repository.workspace, configuration: try ReleaseConfiguration.load(repository.workspace)
            )
            .publish()
        }
        #expect(error?.kind == .dirtyTree)
    }

    @Test func ciCheckArchivesThePlanWithoutWriting() throws {
        let repository = try ReleaseRepository(packages: ["A": [], "B": ["A"]])
        let result = ReleaseCheck(workspace: repository.workspace).run()
        #expect(result.passed, "\(result.lines)")
        #expect(result.verdict == "2 packages would be released")
        #expect(result.lines.last == "order: A 0.1.0, B 0.1.0")
        #expect(try repository.git("status", "--porcelain").isEmpty)
        // A package not committed yet is checked as the work tree holds it.
        try repository.fixture.addPackage("C", dependencies: ["B"])
        let withNew = ReleaseCheck(workspace: repository.workspace).run()
        #expect(withNew.passed, "\(withNew.lines)")
        #expect(withNew.lines.last == "order: A 0.1.0, B 0.1.0, C 0.1.0")
        #expect(withNew.lines.first?.hasPrefix("note: ") == true)
        try repository.fixture.write("Packages/B/CHANGELOG.md", "# Changelog\n\n## Upcoming\n")
        let failing = ReleaseCheck(workspace: repository.workspace).run()
        #expect(!failing.passed)
        #expect(failing.lines.contains { $0.contains("B: first release, but '## Upcoming'") })
    }

    @Test func configurationAndRecordAreValidated() throws {
        let repository = try ReleaseRepository(packages: ["A": []])
        try repository.writeConfiguration(registryURL: "ftp://nowhere")
        #expect(throws: ReleaseError.self) { try ReleaseConfiguration.load(repository.workspace) }
        try repository.writeConfiguration(registryURL: "http://127.0.0.1:9", scope: "bad_scope")
        #expect(throws: ReleaseError.self) { try ReleaseConfiguration.load(repository.workspace) }
        try repository.fixture.write(ReleaseRecord.relativePath, "{\"event\":\"prepared\"}\nnot json\n")
        let error = #expect(throws: ReleaseError.self) { try ReleaseRecord.load(repository.workspace) }
        #expect(error?.kind == .state)
    }
}
