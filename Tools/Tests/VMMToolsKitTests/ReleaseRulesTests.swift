// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

@Suite struct ReleaseVersionTests {
    @Test func parsesAndOrdersVersions() throws {
        let version = try SemanticVersion("1.12.3")
        #expect(version == SemanticVersion(major: 1, minor: 12, patch: 3))
        #expect(version.description == "1.12.3")
        #expect(try SemanticVersion("0.9.9") < SemanticVersion("0.10.0"))
        #expect(try SemanticVersion("1.0.0") > SemanticVersion("0.99.99"))
    }

    @Test func refusesMalformedVersions() {
        for text in [
            "", "1", "1.2", "1.2.3.4", "01.2.3", "1.-2.3", "1.2.x", "v1.2.3", "1.2.3-beta", "1..3", "9999999999.0.0",
        ] {
            #expect(throws: ReleaseError.self) { try SemanticVersion(text) }
        }
    }

    @Test func bumpsResetLowerParts() throws {
        let version = try SemanticVersion("1.4.7")
        #expect(version.bumped(.patch).description == "1.4.8")
        #expect(version.bumped(.minor).description == "1.5.0")
        #expect(version.bumped(.major).description == "2.0.0")
    }

    @Test func zeroMajorBreakingBumpsMinorAndEverythingElsePatch() throws {
        let zero = try SemanticVersion("0.3.2")
        #expect(ChangeKind.breaking.bump(from: zero) == .minor)
        #expect(ChangeKind.feature.bump(from: zero) == .patch)
        #expect(ChangeKind.fix.bump(from: zero) == .patch)
        #expect(zero.bumped(ChangeKind.breaking.bump(from: zero)).description == "0.4.0")
    }

    @Test func stableVersionsFollowSemver() throws {
        let one = try SemanticVersion("2.1.0")
        #expect(ChangeKind.breaking.bump(from: one) == .major)
        #expect(ChangeKind.feature.bump(from: one) == .minor)
        #expect(ChangeKind.fix.bump(from: one) == .patch)
    }

    @Test func versionsRoundTripThroughJSON() throws {
        let versions = ReleaseVersions(packages: [
            "B": .init(version: try SemanticVersion("0.2.0"), requires: ["A": try SemanticVersion("0.1.1")])
        ])
        let decoded = try JSONDecoder().decode(ReleaseVersions.self, from: Data(versions.encoded().utf8))
        #expect(decoded == versions)
        #expect(versions.encoded().contains("\"version\" : \"0.2.0\""))
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(
                ReleaseVersions.self, from: Data(#"{"packages":{"A":{"version":"1.2","requires":{}}}}"#.utf8))
        }
    }
}

@Suite struct ReleaseChangelogTests {
    static let text = """
        # Changelog

        ## Upcoming

        ### Added
        - `Widget`: a thing,
          wrapped onto a second line.
        - `Gadget`.

        ### Fixed
        - A crash.

        ## v0.1.0 — 2026-01-02

        ### Added
        - Everything.

        """

    @Test func readsUpcomingEntriesAndContinuationLines() throws {
        let changelog = try Changelog(Self.text)
        #expect(changelog.upcoming.map(\.section) == ["Added", "Added", "Fixed"])
        #expect(changelog.upcoming[0].text == "`Widget`: a thing,\nwrapped onto a second line.")
        #expect(changelog.upcomingKind == .feature)
        #expect(!changelog.isUpcomingEmpty)
        #expect(changelog.section(for: try SemanticVersion("0.1.0")) == "### Added\n- Everything.")
    }

    @Test func classifiesBreakingFeatureAndFix() throws {
        func kind(_ body: String) throws -> ChangeKind? {
            try Changelog("# Changelog\n\n## Upcoming\n\n\(body)\n").upcomingKind
        }
        #expect(try kind("### Fixed\n- A bug.\n\n### Security\n- A hole.") == .fix)
        #expect(try kind("### Fixed\n- A bug.\n\n### Deprecated\n- `old()`.") == .feature)
        #expect(try kind("### Changed\n- **Breaking** `run()` throws.") == .breaking)
        #expect(try kind("### Fixed\n- **Breaking:** the fix changes a signature.") == .breaking)
        #expect(try kind("### Removed\n- `legacy()`.") == .breaking)
        #expect(try kind("### Added\n") == nil)
        #expect(try kind("") == nil)
    }

    @Test func releasingMovesUpcomingUnderAVersionHeading() throws {
        let released = try Changelog(Self.text).releasing(try SemanticVersion("0.1.1"), date: "2026-05-01")
        let expected = """
            # Changelog

            ## Upcoming

            ## v0.1.1 — 2026-05-01

            ### Added
            - `Widget`: a thing,
              wrapped onto a second line.
            - `Gadget`.

            ### Fixed
            - A crash.

            ## v0.1.0 — 2026-01-02

            ### Added
            - Everything.

            """
        #expect(released.text == expected)
        #expect(released.isUpcomingEmpty)
        #expect(released.section(for: try SemanticVersion("0.1.1"))?.hasPrefix("### Added\n- `Widget`") == true)
        // The result still satisfies the lint rule for changelogs.
        #expect(Linter.changelogFindings(released.text, file: "CHANGELOG.md").isEmpty)
    }

    @Test func emptyUpcomingUsesTheFallbackOrRefuses() throws {
        let empty = try Changelog("# Changelog\n\n## Upcoming\n")
        let error = #expect(throws: ReleaseError.self) {
            try empty.releasing(SemanticVersion(major: 0, minor: 1, patch: 0), date: "2026-05-01")
        }
        #expect(error?.kind == .emptyUpcoming)
        let released = try empty.releasing(
            SemanticVersion(major: 0, minor: 1, patch: 1), date: "2026-05-01",
            fallback: "### Changed\n- Requires A 0.2.0.")
        #expect(
            released.text
                == "# Changelog\n\n## Upcoming\n\n## v0.1.1 — 2026-05-01\n\n### Changed\n- Requires A 0.2.0.\n")
    }

    @Test func refusesToReleaseAVersionTwice() throws {
        let changelog = try Changelog(Self.text)
        #expect(throws: ReleaseError.self) {
            try changelog.releasing(SemanticVersion(major: 0, minor: 1, patch: 0), date: "2026-05-01")
        }
    }

    @Test func rejectsMalformedChangelogs() {
        let cases = [
            "# Changelog\n\n## v0.1.0\n",  // no Upcoming
            "# Changelog\n\n## Upcoming\n\n### Breaking\n- x\n",  // unknown subsection
            "# Changelog\n\n## Upcoming\n\n- an entry outside any subsection\n",
            String(repeating: "x", count: Changelog.maxBytes + 1),
        ]
        for text in cases {
            let error = #expect(throws: ReleaseError.self) { try Changelog(text) }
            #expect(error?.kind == .changelog)
        }
    }

    @Test func hostileChangelogTextNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        let pieces = [
            "## Upcoming", "### Added", "### Removed", "- **Breaking**", "  more", "##", "###", "-", "\r", "\n",
            "## v1.2.3",
        ]
        for _ in 0..<300 {
            let text = (0..<Int.random(in: 0..<30, using: &generator)).map { _ in
                pieces.randomElement(using: &generator)!
            }
            .joined(separator: Bool.random(using: &generator) ? "\n" : " ")
            if let changelog = try? Changelog(text) {
                _ = changelog.upcomingKind
                _ = try? changelog.releasing(
                    SemanticVersion(major: 9, minor: 9, patch: 9), date: "2026-05-01", fallback: "### Fixed\n- x")
            }
        }
    }
}

@Suite struct ReleaseManifestTests {
    static let manifest = """
        // swift-tools-version: 6.1
        import PackageDescription

        let package = Package(
            name: "VMMemory",
            products: [.library(name: "VMMemoryLinux", targets: ["VMMemoryLinux"])],
            dependencies: [
                .package(path: "../PortableTesting"),
                .package(path: "../VMMSysUtil"),
            ],
            targets: [
                .target(name: "VMMemoryLinux", dependencies: [.product(name: "VMMSysUtil", package: "VMMSysUtil")]),
                .testTarget(name: "T", dependencies: [.product(name: "PortableTesting", package: "PortableTesting")]),
            ]
        )

        """

    @Test func rewritesPathDependenciesToRegistryIdentities() throws {
        let rewriter = ManifestRewriter(
            scope: "swift-vmm",
            versions: ["PortableTesting": try SemanticVersion("0.1.0"), "VMMSysUtil": try SemanticVersion("0.2.1")])
        let result = try rewriter.rewrite(Self.manifest, package: "VMMemory")
        #expect(result.contains(#".package(id: "swift-vmm.PortableTesting", exact: "0.1.0"),"#))
        #expect(result.contains(#".package(id: "swift-vmm.VMMSysUtil", exact: "0.2.1"),"#))
        #expect(result.contains(#".product(name: "VMMSysUtil", package: "swift-vmm.VMMSysUtil")"#))
        #expect(result.contains(#".product(name: "PortableTesting", package: "swift-vmm.PortableTesting")"#))
        #expect(!result.contains("path:"))
        // Only the dependency lines changed.
        let before = Self.manifest.split(separator: "\n")
        let after = result.split(separator: "\n")
        #expect(before.count == after.count)
        #expect(zip(before, after).filter { $0 != $1 }.count == 4)
    }

    @Test func readsPathDependenciesInOrder() throws {
        #expect(try ManifestRewriter.pathDependencies(in: Self.manifest) == ["PortableTesting", "VMMSysUtil"])
        #expect(try ManifestRewriter.pathDependencies(in: #".package(name: "X", path: "../Y")"#) == ["Y"])
    }

    @Test func refusesWhatItCannotRewrite() throws {
        let rewriter = ManifestRewriter(scope: "swift-vmm", versions: ["PortableTesting": try SemanticVersion("0.1.0")])
        // A dependency without a released version.
        var error = #expect(throws: ReleaseError.self) { try rewriter.rewrite(Self.manifest, package: "VMMemory") }
        #expect(error?.kind == .manifest)
        // A path dependency that is not a sibling package.
        for path in ["../../Elsewhere", "/abs/Pkg", "Vendor/Pkg", "../", "../.."] {
            let text = "// swift-tools-version: 6.1\nlet p = [.package(path: \"\(path)\")]\n"
            error = #expect(throws: ReleaseError.self) { try rewriter.rewrite(text, package: "P") }
            #expect(error?.kind == .manifest)
        }
        // Tools versions before registry dependencies.
        error = #expect(throws: ReleaseError.self) {
            try rewriter.rewrite("// swift-tools-version:5.5\nimport PackageDescription\n", package: "P")
        }
        #expect(error?.kind == .manifest)
        error = #expect(throws: ReleaseError.self) { try rewriter.rewrite("import PackageDescription\n", package: "P") }
        #expect(error?.kind == .manifest)
        // An invalid scope.
        error = #expect(throws: ReleaseError.self) {
            try ManifestRewriter(scope: "-bad-", versions: [:]).rewrite("// swift-tools-version: 6.1\n", package: "P")
        }
        #expect(error?.kind == .configuration)
    }

    @Test func validatesScopesAndNamesAsTheSpecDoes() {
        #expect(RegistryIdentity.isValidScope("swift-vmm"))
        #expect(RegistryIdentity.isValidScope(String(repeating: "a", count: 39)))
        for scope in ["", "-a", "a-", "a--b", "a_b", "a.b", String(repeating: "a", count: 40), "é"] {
            #expect(!RegistryIdentity.isValidScope(scope), "\(scope)")
        }
        #expect(RegistryIdentity.isValidName("VMM_Sys-Util2"))
        for name in ["", "_a", "a_", "a_-b", "a/b", "a b", String(repeating: "n", count: 101)] {
            #expect(!RegistryIdentity.isValidName(name), "\(name)")
        }
    }
}
