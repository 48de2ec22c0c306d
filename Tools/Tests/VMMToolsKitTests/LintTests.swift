// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

@Suite struct LintTests {
    @Test func cleanFixtureHasNoFindings() throws {
        let fixture = try FixtureWorkspace()
        let findings = try fixture.lint()
        #expect(findings == [], "\(findings)")
    }

    @Test func missingLicenseHeaderIsNamedWithFileAndRule() throws {
        let fixture = try FixtureWorkspace()
        try fixture.write("Packages/A/Sources/A/Bare.swift", "/// Two.\npublic func two() -> Int { 2 }\n")
        try fixture.write("Packages/A/Sources/A/shim.c", "int x;\n")
        let findings = try fixture.lint([.licenseHeader])
        #expect(findings.map(\.file) == ["Packages/A/Sources/A/Bare.swift", "Packages/A/Sources/A/shim.c"])
        #expect(findings.allSatisfy { $0.rule == .licenseHeader && $0.line == 1 })
        #expect(findings[0].description.hasPrefix("Packages/A/Sources/A/Bare.swift:1: license-header: "))
    }

    @Test func swiftFormatViolationIsNamedWithFileAndLine() throws {
        let fixture = try FixtureWorkspace()
        try fixture.write(
            "Packages/B/Sources/B/Ugly.swift",
            "\(FixtureWorkspace.header)\n/// Three.\npublic func three() -> Int {\n        return 3\n}\n")
        let findings = try fixture.lint([.swiftFormat])
        #expect(!findings.isEmpty)
        #expect(findings.allSatisfy { $0.file == "Packages/B/Sources/B/Ugly.swift" && $0.rule == .swiftFormat })
        #expect(findings.contains { $0.line == 6 && $0.message.contains("Indentation") })
    }

    @Test func rootManifestMissingADependencyIsAMismatch() throws {
        let fixture = try FixtureWorkspace()
        let root = try fixture.read("Package.swift")
        try fixture.write(
            "Package.swift",
            root.replacingOccurrences(of: "name: \"B\", dependencies: [\"A\"]", with: "name: \"B\", dependencies: []"))
        let findings = try fixture.lint([.manifest])
        #expect(findings.count == 1)
        #expect(findings.first?.file == "Package.swift")
        #expect(findings.first?.rule == .manifest)
        #expect(findings.first?.message.contains("target 'B' depends on [] here but on [A]") == true)
        // The line points at B's mirror entry.
        let line = try fixture.read("Package.swift").split(separator: "\n", omittingEmptySubsequences: false)[
            (findings.first?.line ?? 1) - 1]
        #expect(line.contains("name: \"B\""))
    }

    /// A target under a door's path that depends on a module behind the door is a finding.
    @Test func aTargetThatStepsAroundADoorIsAFinding() throws {
        let fixture = try FixtureWorkspace()
        let root = try fixture.read("Package.swift")
        try fixture.write("App/Sources/App/App.swift", "\(FixtureWorkspace.header)\nimport A\n")
        try fixture.write(
            "Package.swift",
            root.replacingOccurrences(
                of: "    ]\n)",
                with:
                    "        .target(name: \"App\", dependencies: [\"B\", \"A\"], path: \"App/Sources/App\"),\n    ]\n)"
            ))
        let door = (pathPrefix: "App/Sources/", forbidden: Set(["A"]))
        let findings = try Linter(workspace: fixture.workspace, doors: [door]).run([.manifest])
        #expect(
            findings.map(\.message) == [
                "target 'App' depends on A: code under App/Sources/ goes through the layer above it"
            ])
        #expect(try Linter(workspace: fixture.workspace, doors: []).run([.manifest]).isEmpty)
        // The workspace's own door: integration-vmm reaches KVM only through Hypervisor.
        #expect(Linter.hypervisorDoor.forbidden == ["KVMIoctls", "KVMBindings"])
    }

    @Test func targetOnlyInPackageManifestIsReportedThere() throws {
        let fixture = try FixtureWorkspace()
        let manifest = try fixture.read("Packages/A/Package.swift")
        try fixture.write(
            "Packages/A/Package.swift",
            manifest.replacingOccurrences(
                of: "        .testTarget(", with: "        .target(name: \"AExtra\"),\n        .testTarget("))
        try fixture.write("Packages/A/Sources/AExtra/Extra.swift", "\(FixtureWorkspace.header)\nlet extra = 1\n")
        let findings = try fixture.lint([.manifest])
        #expect(
            findings.map(\.description).contains {
                $0.hasPrefix("Packages/A/Package.swift:") && $0.contains("'AExtra' is missing from the root")
            })
    }

    @Test func differingSettingsAreAMismatch() throws {
        let fixture = try FixtureWorkspace()
        let manifest = try fixture.read("Packages/A/Package.swift")
        try fixture.write(
            "Packages/A/Package.swift",
            manifest.replacingOccurrences(
                of: ".target(name: \"A\", dependencies: [])",
                with: ".target(name: \"A\", dependencies: [], linkerSettings: [.linkedLibrary(\"m\")])"))
        let findings = try fixture.lint([.manifest])
        #expect(findings.count == 1)
        #expect(findings.first?.message.contains("settings") == true)
    }

    @Test func packageWithoutChangelogIsReported() throws {
        let fixture = try FixtureWorkspace()
        try fixture.remove("Packages/A/CHANGELOG.md")
        let findings = try fixture.lint([.packageFiles, .changelog])
        #expect(
            findings.map(\.description) == ["Packages/A/CHANGELOG.md:1: package-files: package A has no CHANGELOG.md"])
    }

    @Test func changelogWithoutUpcomingIsReported() throws {
        let fixture = try FixtureWorkspace()
        try fixture.write("Packages/B/CHANGELOG.md", "# Changelog\n\n## v0.1.0\n\n### Added\n- First.\n")
        let findings = try fixture.lint([.packageFiles, .changelog])
        #expect(findings.count == 1)
        #expect(findings.first?.file == "Packages/B/CHANGELOG.md")
        #expect(findings.first?.line == 3)
        #expect(findings.first?.rule == .changelog)
    }

    @Test func changelogShapeRules() {
        let good = "# C\n\n## Upcoming\n\n### Fixed\n- x\n\n## v1.2.3 — 2026-11-21\n\n### Added\n- y\n"
        #expect(Linter.changelogFindings(good, file: "C.md") == [])
        let bad = "# C\n\n## Upcoming\n\n### Misc\n\n## 1.0\n"
        let findings = Linter.changelogFindings(bad, file: "C.md")
        #expect(findings.map(\.line) == [5, 7])
        #expect(Linter.changelogFindings("# C\n", file: "C.md").first?.message.contains("no '## Upcoming'") == true)
    }

    @Test func readmeWithoutExampleIsReported() throws {
        let fixture = try FixtureWorkspace()
        try fixture.write("Packages/A/README.md", "# A\n\nNo example.\n")
        let findings = try fixture.lint([.packageFiles])
        #expect(
            findings.map(\.description) == ["Packages/A/README.md:1: package-files: README.md has no ```swift example"])
    }

    @Test func staleDocsGraphIsReported() throws {
        let fixture = try FixtureWorkspace()
        try fixture.write(
            "docs/architecture.md", ArchitectureDocs.replacingGraph(in: "# Architecture\n", with: "digraph {}\n"))
        let findings = try fixture.lint([.docsGraph])
        #expect(findings.count == 1)
        #expect(findings.first?.message.contains("stale") == true)
    }

    @Test func unsafeExpressionsAndSafeDeclarationsNeedSafetyComments() throws {
        let fixture = try FixtureWorkspace()
        let body = """
            \(FixtureWorkspace.header)
            /// Sums bytes.
            public func sum(_ bytes: [UInt8]) -> Int {
                unsafe bytes.withUnsafeBufferPointer { unsafe $0.reduce(0) { $0 + Int($1) } }
            }

            /// Sums bytes, explained.
            public func sum2(_ bytes: [UInt8]) -> Int {
                // SAFETY: the buffer pointer does not escape the closure.
                unsafe bytes.withUnsafeBufferPointer { unsafe $0.reduce(0) { $0 + Int($1) } }
            }

            nonisolated(unsafe) var counter = 0  // not an expression
            let text = "an unsafe word in a string, \\"and unsafe \\" after an escape"
            let block = \"\"\"
                unsafe inside a multi-line string
                \"\"\"
            let name = unsafeBitCast(1, to: UInt.self)  // a name, not the keyword
            // unsafe in a comment
            @unsafe public func raw() {}

            @safe
            struct Holder { let pointer: UnsafeRawPointer }

            """
        try fixture.write("Packages/A/Sources/A/Sum.swift", body)
        // Tests are exempt.
        try fixture.write("Packages/A/Tests/ATests/SumTests.swift", "\(FixtureWorkspace.header)\nlet x = unsafe 1\n")
        let findings = try fixture.lint([.safetyComment])
        #expect(
            findings.map(\.description) == [
                "Packages/A/Sources/A/Sum.swift:6: safety-comment: `unsafe` code without a `// SAFETY:` comment saying why it is sound",
                "Packages/A/Sources/A/Sum.swift:24: safety-comment: `unsafe` code without a `// SAFETY:` comment saying why it is sound",
            ])
    }

    @Test func codeOnlyDropsCommentsAndStringContents() {
        var multiline = false
        #expect(Linter.codeOnly(#"let a = "x // y" // note"#, inMultilineString: &multiline) == #"let a = "" "#)
        #expect(Linter.codeOnly(#"let b = "\"unsafe "#, inMultilineString: &multiline) == #"let b = """#)
        #expect(!multiline)
        #expect(Linter.codeOnly(#"let c = """"#, inMultilineString: &multiline) == #"let c = """#)
        #expect(multiline)
        #expect(Linter.codeOnly("    unsafe text", inMultilineString: &multiline) == "")
        #expect(Linter.codeOnly(#"    """ + f(unsafe x)"#, inMultilineString: &multiline) == " + f(unsafe x)")
        #expect(!multiline)
    }
}
