// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

@Suite struct RiscV64Tests {
    /// The repository's own PortableTesting package, copied into fixtures.
    static let portableTesting = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../Packages/PortableTesting").standardizedFileURL

    /// A fixture with PortableTesting and a portable package P whose cases are `cases`.
    func fixture(cases: String) throws -> FixtureWorkspace {
        let fixture = try FixtureWorkspace(packages: ["P": []])
        try FileManager.default.copyItem(
            at: Self.portableTesting.appendingPathComponent("Sources"),
            to: fixture.root.appendingPathComponent("Packages/PortableTesting/Sources"))
        try fixture.write(
            "Packages/PortableTesting/Package.swift",
            FixtureWorkspace.manifest(
                name: "PortableTesting", dependencies: [], targets: ["        .target(name: \"PortableTesting\"),"]
            ).replacingOccurrences(
                of: "products: [],",
                with: "products: [.library(name: \"PortableTesting\", targets: [\"PortableTesting\"])],"))
        let manifest = try fixture.read("Packages/P/Package.swift")
        try fixture.write(
            "Packages/P/Package.swift",
            manifest.replacingOccurrences(
                of: "dependencies: [],\n    targets: [",
                with: """
                    dependencies: [.package(path: "../PortableTesting")],
                        targets: [
                            .target(
                                name: "PPortableTests",
                                dependencies: ["P", .product(name: "PortableTesting", package: "PortableTesting")],
                                path: "Tests/PPortableTests"),
                    """))
        try fixture.write(
            "Packages/P/Tests/PPortableTests/Cases.swift",
            "\(FixtureWorkspace.header)\nimport P\nimport PortableTesting\n\n\(cases)\n")
        return fixture
    }

    @Test func discoversPortableModulesInDependencyOrder() throws {
        let fixture = try fixture(cases: "public let allCases: [PortableTestCase] = []")
        let modules = try PortableModules.discover(in: fixture.workspace)
        #expect(modules.map(\.name) == ["P", "PortableTesting", "PPortableTests"])
        #expect(modules.filter(\.isTestCases).map(\.name) == ["PPortableTests"])
    }

    @Test func failingCaseFailsTheRunAndPassingCasesCount() throws {
        let fixture = try fixture(
            cases: """
                public let allCases: [PortableTestCase] = [
                    PortableTestCase("P", "value is one") { () throws(TestFailure) in try expectEqual(valueP(), 1) },
                    PortableTestCase("P", "deliberately wrong") { () throws(TestFailure) in try expectEqual(valueP(), 2) },
                ]
                """)
        let report = try RiscV64Run(workspace: fixture.workspace).execute()
        #expect(!report.succeeded)
        #expect(report.passed == 1)
        #expect(report.failed == 1)
        #expect(report.hostCases == 2)
        #expect(
            report.lines.contains {
                $0.hasPrefix("FAIL P.deliberately wrong:") && $0.contains("(actual 1, expected 2)")
            })
        let binary = try #require(report.binary)
        #expect(try ELFHeader.machine(of: binary) == ELFHeader.riscv)
    }

    @Test func hostOnlyCodeIsAnEmbeddedLintFinding() throws {
        let fixture = try fixture(cases: "public let allCases: [PortableTestCase] = []")
        try fixture.write(
            "Packages/P/Sources/P/HostOnly.swift",
            "\(FixtureWorkspace.header)\n/// A hook.\npublic protocol Hook { func fire() }\n\n/// Calls through an existential, which Embedded Swift rejects.\npublic func fire(_ hook: any Hook) { hook.fire() }\n"
        )
        let findings = try fixture.lint([.embedded])
        #expect(findings.count == 1)
        #expect(findings.first?.file == "Packages/P/Sources/P/HostOnly.swift")
        #expect(findings.first?.line == 8)
        #expect(findings.first?.message.contains("embedded Swift") == true)
        #expect(findings.first?.rule == .embedded)
    }

    /// Too few cases on riscv64 fails the run even when every case that ran passed.
    @Test func aRunBelowTheMinimumShareFails() {
        let full = RiscV64Run.verdict(status: 0, passed: 90, failed: 0, hostCases: 100)
        #expect(full.succeeded)
        #expect(full.lines == ["riscv64 ran 90 of 100 portable cases (90%)"])
        let short = RiscV64Run.verdict(status: 0, passed: 79, failed: 0, hostCases: 100)
        #expect(!short.succeeded)
        #expect(short.lines.last == "riscv64 ran fewer than 80% of the host's portable cases")
        #expect(!RiscV64Run.verdict(status: 0, passed: 0, failed: 0, hostCases: 0).succeeded)
        #expect(!RiscV64Run.verdict(status: 0, passed: 99, failed: 1, hostCases: 100).succeeded)
        #expect(!RiscV64Run.verdict(status: 132, passed: 100, failed: 0, hostCases: 100).succeeded)
    }

    @Test func elfCheckRejectsHostBinaries() throws {
        #expect(try ELFHeader.machine(of: URL(fileURLWithPath: "/bin/sh")) == ELFHeader.x86_64)
        #expect(try ELFHeader.machine(of: URL(fileURLWithPath: #filePath)) == nil)
    }
}
