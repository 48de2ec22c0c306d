// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import VMMToolsKit

/// A small swift-vmm-shaped workspace in a temporary folder: packages A and B
/// (B depends on A), a root manifest that mirrors them, changelogs, READMEs and
/// the docs graph. It lints clean as created; tests break one thing at a time.
final class FixtureWorkspace: Sendable {
    let root: URL
    var workspace: Workspace { Workspace(root: root) }

    static let header =
        "// Copyright 2026 The swift-vmm Authors.\n// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause\n"

    init(packages: [String: [String]] = ["A": [], "B": ["A"]]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-tools-fixture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try write(".swift-format", #"{ "version": 1, "lineLength": 120, "indentation": { "spaces": 4 } }"#)
        var rootTargets: [String] = []
        for (name, dependencies) in packages.sorted(by: { $0.key < $1.key }) {
            try addPackage(name, dependencies: dependencies)
            let deps = dependencies.map { "\"\($0)\"" }.joined(separator: ", ")
            rootTargets.append(
                "        .target(name: \"\(name)\", dependencies: [\(deps)], path: \"Packages/\(name)/Sources/\(name)\"),"
            )
            rootTargets.append(
                "        .testTarget(name: \"\(name)Tests\", dependencies: [\"\(name)\"], path: \"Packages/\(name)/Tests/\(name)Tests\"),"
            )
        }
        try write("Package.swift", Self.manifest(name: "fixture", dependencies: [], targets: rootTargets))
        if DependencyGraph(packages.mapValues(Set.init)).findCycle() == nil {
            let dot = try DependencyGraph(packages.mapValues(Set.init)).render(.dot)
            try write("docs/architecture.md", ArchitectureDocs.replacingGraph(in: "# Architecture\n", with: dot))
        }
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    static func manifest(name: String, dependencies: [String], targets: [String]) -> String {
        """
        // swift-tools-version: 6.1
        \(header)
        import PackageDescription

        let package = Package(
            name: "\(name)",
            products: [],
            dependencies: [\(dependencies.joined(separator: ", "))],
            targets: [
        \(targets.joined(separator: "\n"))
            ]
        )

        """
    }

    func addPackage(_ name: String, dependencies: [String]) throws {
        let packageDependencies = dependencies.map { ".package(path: \"../\($0)\")" }
        let targetDependencies = dependencies.map { ".product(name: \"\($0)\", package: \"\($0)\")" }
        var manifest = Self.manifest(
            name: name, dependencies: packageDependencies,
            targets: [
                "        .target(name: \"\(name)\", dependencies: [\(targetDependencies.joined(separator: ", "))]),",
                "        .testTarget(name: \"\(name)Tests\", dependencies: [\"\(name)\"]),",
            ])
        manifest = manifest.replacingOccurrences(
            of: "products: [],", with: "products: [.library(name: \"\(name)\", targets: [\"\(name)\"])],")
        try write("Packages/\(name)/Package.swift", manifest)
        try write(
            "Packages/\(name)/Sources/\(name)/\(name).swift",
            "\(Self.header)\n/// Returns a value.\npublic func value\(name)() -> Int { 1 }\n")
        try write(
            "Packages/\(name)/Tests/\(name)Tests/\(name)Tests.swift",
            "\(Self.header)\nimport Testing\n\n@Test func works() { #expect(Bool(true)) }\n")
        try write("Packages/\(name)/README.md", "# \(name)\n\n```swift\nprint(value\(name)())\n```\n")
        try write("Packages/\(name)/CHANGELOG.md", "# Changelog\n\n## Upcoming\n\n### Added\n- Everything.\n")
    }

    func write(_ path: String, _ contents: String) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try contents.write(to: url, atomically: true, encoding: .utf8)
    }

    func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    func remove(_ path: String) throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent(path))
    }

    func lint(_ rules: Set<LintRule> = Set(LintRule.allCases)) throws -> [Finding] {
        try Linter(workspace: workspace).run(rules)
    }
}
