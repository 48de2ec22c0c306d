// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

/// The whole chain on real packages: PortableTesting, VMMSysUtil, VMMemory and VirtioQueue
/// (the highest: it depends on VMMemory, which depends on VMMSysUtil) are copied from this workspace
/// into a fresh git repository, released to a local registry through failures injected
/// midway, changed, released again, and finally used by a consumer package that SwiftPM
/// resolves and builds from the registry alone.
@Suite struct ReleaseIntegrationTests {
    static let packages = ["PortableTesting", "VMMSysUtil", "VMMemory", "VirtioQueue"]

    /// Copies the tracked files of `packages` from this workspace into `repository`.
    static func copyPackages(into repository: ReleaseRepository) throws {
        let source = try Workspace.locate(from: URL(fileURLWithPath: #filePath).deletingLastPathComponent())
        for name in packages {
            let listed = try ProcessRunner.run(["git", "-C", source.root.path, "ls-files", "Packages/\(name)"])
            try #require(listed.succeeded)
            for path in listed.output.split(separator: "\n").map(String.init) {
                let from = source.root.appendingPathComponent(path)
                guard FileManager.default.fileExists(atPath: from.path) else { continue }
                let to = repository.root.appendingPathComponent(path)
                try FileManager.default.createDirectory(
                    at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
                try FileManager.default.copyItem(at: from, to: to)
            }
        }
    }

    static func publisher(
        _ repository: ReleaseRepository, verify: URL, home: URL, failAfterUpload: Set<String> = []
    )
        throws -> ReleasePublisher
    {
        ReleasePublisher(
            workspace: repository.workspace, configuration: try ReleaseConfiguration.load(repository.workspace),
            options: .init(verifyDirectory: verify, environment: ["HOME": home.path], failAfterUpload: failAfterUpload),
            log: { print("release: \($0)") })
    }

    @Test(.timeLimit(.minutes(40))) func changeInVMMSysUtilIsReleasedDownTheChain() throws {
        let started = Date()
        let registry = try LocalRegistry()
        let scope = RegistryConsumer.uniqueScope()
        defer { RegistryConsumer.removeFingerprints(scope: scope) }
        let scratch = try ReleaseScratch("integration")
        let verify = scratch.path("verify")
        let home = scratch.path("home")

        // A repository holding only the four real packages.
        let repository = try ReleaseRepository(packages: [:], registryURL: registry.url, scope: scope)
        try Self.copyPackages(into: repository)
        try repository.commitAll("four packages")

        // First release: every package is new, in dependency order.
        let first = try ReleasePlanner(workspace: repository.workspace).plan()
        #expect(first.items.map(\.package) == ["PortableTesting", "VMMSysUtil", "VMMemory", "VirtioQueue"])
        #expect(first.problems.isEmpty)
        _ = try ReleasePreparer(workspace: repository.workspace, date: "2026-05-01").prepare()
        try repository.commitAll("prepare the first release")

        // Run 1: the registry refuses the second upload (VMMSysUtil).
        registry.service.failPublishAttempts([2])
        let refused = #expect(throws: ReleaseError.self) {
            try Self.publisher(repository, verify: verify, home: home).publish()
        }
        #expect(refused?.kind == .registry)
        registry.service.failPublishAttempts([])
        // Run 2: the tool dies right after VMMemory's upload went through, before recording it.
        let stopped = #expect(throws: ReleaseError.self) {
            try Self.publisher(repository, verify: verify, home: home, failAfterUpload: ["VMMemory"]).publish()
        }
        #expect(stopped?.kind == .state)
        // Run 3 completes: VMMemory is recognised by its checksum and not uploaded again.
        let resumed = try Self.publisher(repository, verify: verify, home: home).publish()
        #expect(resumed.alreadyPublished == ["VMMemory"])
        #expect(resumed.uploaded == ["VirtioQueue"])
        #expect(resumed.verified == ["VMMemory", "VirtioQueue"])
        #expect(
            registry.service.publishAttempts.map { "\($0.identity) \($0.version) \($0.status)" } == [
                "\(scope).PortableTesting 0.1.0 201", "\(scope).VMMSysUtil 0.1.0 503", "\(scope).VMMSysUtil 0.1.0 201",
                "\(scope).VMMemory 0.1.0 201", "\(scope).VirtioQueue 0.1.0 201",
            ])
        #expect(
            try Self.publisher(repository, verify: verify, home: home).publish().lines.first?.hasPrefix(
                "nothing to publish") == true)
        try repository.commitAll("record the first release")

        // A change in VMMSysUtil: it and everything above it must follow, PortableTesting not.
        try repository.fixture.write(
            "Packages/VMMSysUtil/Sources/VMMSysUtil/ReleaseProbe.swift",
            "\(FixtureWorkspace.header)\n/// Added to test releases.\npublic enum ReleaseProbe {\n    /// A value.\n    public static let value = 1\n}\n"
        )
        try repository.fixture.write(
            "Packages/VMMSysUtil/CHANGELOG.md",
            try repository.fixture.read("Packages/VMMSysUtil/CHANGELOG.md").replacingOccurrences(
                of: "## Upcoming\n", with: "## Upcoming\n\n### Added\n- `ReleaseProbe`.\n"))
        try repository.commitAll("VMMSysUtil: ReleaseProbe")
        let second = try ReleasePlanner(workspace: repository.workspace).plan()
        #expect(second.items.map(\.package) == ["VMMSysUtil", "VMMemory", "VirtioQueue"])
        #expect(second.items.map(\.next.description) == ["0.1.1", "0.1.1", "0.1.1"])
        #expect(
            second.items.map(\.reason) == ["Upcoming: 1 Added", "follows VMMSysUtil 0.1.1", "follows VMMemory 0.1.1"])
        _ = try ReleasePreparer(workspace: repository.workspace, date: "2026-05-02").prepare()
        #expect(
            try repository.fixture.read("Packages/VMMemory/CHANGELOG.md").contains(
                "## v0.1.1 — 2026-05-02\n\n### Changed\n- Requires VMMSysUtil 0.1.1 (released together).\n"))
        try repository.commitAll("prepare the second release")
        let again = try Self.publisher(repository, verify: verify, home: home).publish()
        #expect(again.uploaded == ["VMMSysUtil", "VMMemory", "VirtioQueue"])

        // Every release was uploaded exactly once.
        var accepted: [String: Int] = [:]
        for attempt in registry.service.publishAttempts where attempt.status == 201 {
            accepted["\(attempt.identity) \(attempt.version)", default: 0] += 1
        }
        #expect(accepted.count == 7 && accepted.values.allSatisfy { $0 == 1 }, "\(accepted)")
        #expect(!registry.service.publishAttempts.contains { $0.status == 409 })
        let tags = try repository.git("tag", "-l").split(separator: "\n").sorted()
        #expect(tags.count == 7 && tags.contains("VMMSysUtil-v0.1.1") && tags.contains("VirtioQueue-v0.1.0"))
        let manifest =
            registry.service.release(scope: scope, name: "VMMemory", version: "0.1.1")?.manifests["Package.swift"] ?? ""
        #expect(manifest.contains(".package(id: \"\(scope).VMMSysUtil\", exact: \"0.1.1\")"))
        #expect(manifest.contains(".package(id: \"\(scope).PortableTesting\", exact: \"0.1.0\")"))
        #expect(!manifest.contains(".package(path:"))

        // A fresh package outside the repository uses VirtioQueue from the registry alone.
        let consumer = try RegistryConsumer(
            in: scratch, registry: registry.url, scope: scope, dependency: "VirtioQueue",
            requirement: "from: \"0.1.0\"",
            products: ["VirtioQueue"],
            source:
                "import VirtioQueue\n\nlet queue = try Virtqueue(maximumSize: 256)\nprint(\"virtqueue: \\(queue.maximumSize)\")\n"
        )
        let resolved = try consumer.run(["swift", "package", "resolve"])
        #expect(resolved.succeeded, "\(resolved.output)")
        // PortableTesting serves only test-side targets, so target-based resolution leaves it out.
        let pins = try consumer.pins()
        #expect(
            pins == ["\(scope).VirtioQueue": "0.1.1", "\(scope).VMMemory": "0.1.1", "\(scope).VMMSysUtil": "0.1.1"],
            "\(pins)")
        let run = try consumer.run(["swift", "run", "Consumer"])
        #expect(run.succeeded, "\(run.output.suffix(2000))")
        #expect(run.output.contains("virtqueue: 256"))
        print("release integration test: \(Int(Date().timeIntervalSince(started))) s")
    }
}
