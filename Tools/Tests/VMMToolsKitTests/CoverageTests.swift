// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

/// A fixture package A with one tested and one untested file, measured once for the suite
/// (a coverage run compiles and runs a real package, which takes seconds).
final class CoverageFixture: Sendable {
    let fixture: FixtureWorkspace
    let measurement: CoverageMeasurement

    static let shared: Result<CoverageFixture, Error> = Result { try CoverageFixture() }

    init() throws {
        let fixture = try FixtureWorkspace(packages: ["A": []])
        try fixture.write(
            "Packages/A/Sources/A/Covered.swift",
            "\(FixtureWorkspace.header)\n/// Tested.\npublic func covered(_ x: Int) -> Int {\n    x + 1\n}\n")
        try fixture.write(
            "Packages/A/Sources/A/Uncovered.swift",
            "\(FixtureWorkspace.header)\n/// Untested.\npublic func uncovered(_ x: Int) -> Int {\n    let y = x * 2\n    return y + 3\n}\n"
        )
        try fixture.write(
            "Packages/A/Tests/ATests/ATests.swift",
            "\(FixtureWorkspace.header)\nimport A\nimport Testing\n\n@Test func coveredWorks() { #expect(covered(1) == 2) }\n"
        )
        self.fixture = fixture
        measurement = try CoverageMeasurement.measure(fixture.workspace)
    }

    func package(excluding exclusions: [String: [String]] = [:]) -> PackageCoverage? {
        measurement.packages(excluding: exclusions).first { $0.name == "A" }
    }
}

@Suite(.serialized) struct CoverageTests {
    func measured() throws -> (CoverageFixture, PackageCoverage) {
        let shared = try CoverageFixture.shared.get()
        let package = try #require(shared.package())
        return (shared, package)
    }

    @Test func measuresPerPackageAndSkipsTests() throws {
        let (shared, package) = try measured()
        #expect(
            package.files.map(\.path).sorted() == [
                "Packages/A/Sources/A/A.swift", "Packages/A/Sources/A/Covered.swift",
                "Packages/A/Sources/A/Uncovered.swift",
            ])
        #expect(!shared.measurement.files.contains { $0.path.contains("/Tests/") })
        let lines = package.count(.lines)
        #expect(lines.covered > 0 && lines.covered < lines.count)
        #expect(package.count(.functions) == CoverageCount(count: 3, covered: 1))
    }

    @Test func passesWithinDelta() throws {
        let (_, package) = try measured()
        let score = CoverageGate.rounded(package.percent(.lines))
        let thresholds = CoverageThresholds(packages: ["A": .init(scores: [.lines: score + 0.4])])
        let verdict = CoverageGate.evaluate([package], thresholds: thresholds, profile: .ci, file: "x.json")
        #expect(verdict.passed, "\(verdict.failures)")
    }

    @Test func failsOnADropNamingPackageAndNumbers() throws {
        let (_, package) = try measured()
        let measured = CoverageGate.format(package.percent(.lines))
        let thresholds = CoverageThresholds(packages: ["A": .init(scores: [.lines: 95])])
        let verdict = CoverageGate.evaluate([package], thresholds: thresholds, profile: .ci, file: "x.json")
        #expect(
            verdict.failures == [
                "A: lines coverage \(measured)% dropped below its threshold 95.00% (allowed delta 0.50)"
            ])
    }

    @Test func ciFailsOnAnUnrecordedRiseWithTheEdit() throws {
        let (_, package) = try measured()
        let measured = CoverageGate.format(package.percent(.lines))
        let thresholds = CoverageThresholds(packages: ["A": .init(scores: [.lines: 10])])
        let verdict = CoverageGate.evaluate([package], thresholds: thresholds, profile: .ci, file: "coverage/x.json")
        #expect(
            verdict.failures == [
                "A: lines coverage rose to \(measured)% from 10.00%; raise the threshold: in coverage/x.json set packages.A.lines from 10.00 to \(measured)"
            ])
        #expect(verdict.updatedThresholds?.packages["A"]?.scores[.lines] == 10 || verdict.updatedThresholds == nil)
    }

    @Test func develRewritesTheThresholdsFile() throws {
        let (shared, package) = try measured()
        let file = shared.fixture.root.appendingPathComponent("coverage/test.json")
        try CoverageThresholds(packages: ["A": .init(scores: [.lines: 10], exclude: [])]).rendered()
            .write(
                to: file.deletingLastPathComponent().appendingPathComponent("test.json").createParent(),
                atomically: true, encoding: .utf8)
        let report = try CoverageRun(
            workspace: shared.fixture.workspace, profile: .devel, runTests: false, thresholdsFile: file
        ).execute()
        #expect(report.passed)
        let rewritten = try CoverageThresholds.load(from: file)
        #expect(rewritten.packages["A"]?.scores[.lines] == CoverageGate.rounded(package.percent(.lines)))
        // A second devel run has nothing to change, and ci now passes too.
        let ci = try CoverageRun(
            workspace: shared.fixture.workspace, profile: .ci, runTests: false, thresholdsFile: file
        ).execute()
        #expect(ci.failures.allSatisfy { !$0.contains("lines") }, "\(ci.failures)")
    }

    @Test func exclusionsAreRespected() throws {
        let (shared, _) = try measured()
        let package = try #require(shared.package(excluding: ["A": ["Sources/A/Uncovered.swift"]]))
        #expect(!package.files.contains { $0.path.hasSuffix("Uncovered.swift") })
        #expect(package.count(.functions) == CoverageCount(count: 2, covered: 1))
        let folder = shared.package(excluding: ["A": ["Sources/A"]])
        #expect(folder == nil)
    }

    @Test func missingThresholdsFailUnderCI() throws {
        let (_, package) = try measured()
        let verdict = CoverageGate.evaluate([package], thresholds: CoverageThresholds(), profile: .ci, file: "x.json")
        #expect(verdict.failures.count == 1)
        #expect(verdict.failures.first?.hasPrefix("A: no thresholds in x.json") == true)
    }

    @Test func thresholdsFileRoundTrips() throws {
        let thresholds = CoverageThresholds(
            delta: 0.5, changedLinesMinimum: 75,
            packages: [
                "B": .init(scores: [.lines: 81.25, .regions: 70, .functions: 90], exclude: ["Sources/C"], delta: 1)
            ])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("thresholds-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try thresholds.rendered().write(to: url, atomically: true, encoding: .utf8)
        #expect(try CoverageThresholds.load(from: url) == thresholds)
    }

    @Test func diffHunksGiveChangedLines() {
        let diff = """
            diff --git a/P/x.swift b/P/x.swift
            --- a/P/x.swift
            +++ b/P/x.swift
            @@ -3,0 +4,2 @@ func a()
            +let a = 1
            +let b = 2
            @@ -10 +12 @@
            -old
            +new
            @@ -20,3 +21,0 @@
            """
        #expect(ChangedLinesCoverage.changedLines(fromDiff: diff) == ["P/x.swift": [4, 5, 12]])
    }

    @Test func llvmCovCountsParse() {
        #expect(CoverageMeasurement.parseCount("0") == 0)
        #expect(CoverageMeasurement.parseCount("1.5k") == 1500)
        #expect(CoverageMeasurement.parseCount("2M") == 2_000_000)
    }
}

@Suite struct ChangedLinesGateTests {
    @Test func newCodeWithoutATestFailsTheGate() throws {
        let fixture = try FixtureWorkspace(packages: ["A": []])
        try fixture.write(
            "Packages/A/Tests/ATests/ATests.swift",
            "\(FixtureWorkspace.header)\nimport A\nimport Testing\n\n@Test func valueWorks() { #expect(valueA() == 1) }\n"
        )
        func git(_ arguments: String...) throws {
            let result = try ProcessRunner.run(
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"] + arguments,
                in: fixture.root)
            #expect(result.succeeded, "\(result.output)")
        }
        try fixture.write(".gitignore", ".build/\n")
        try git("init", "-q")
        try git("add", "-A")
        try git("commit", "-qm", "base")
        // The change: one tested function in an existing file, one untested new file.
        let source = try fixture.read("Packages/A/Sources/A/A.swift")
        try fixture.write(
            "Packages/A/Sources/A/A.swift",
            source + "\n/// Tested too.\npublic func twice(_ x: Int) -> Int {\n    x * 2\n}\n")
        try fixture.write(
            "Packages/A/Tests/ATests/TwiceTests.swift",
            "\(FixtureWorkspace.header)\nimport A\nimport Testing\n\n@Test func twiceWorks() { #expect(twice(2) == 4) }\n"
        )
        try fixture.write(
            "Packages/A/Sources/A/New.swift",
            "\(FixtureWorkspace.header)\n/// Untested.\npublic func fresh(_ x: Int) -> Int {\n    let y = x - 1\n    return y * y\n}\n"
        )
        let thresholds = fixture.root.appendingPathComponent("coverage/t.json")
        try FileManager.default.createDirectory(
            at: thresholds.deletingLastPathComponent(), withIntermediateDirectories: true)
        try CoverageThresholds(changedLinesMinimum: 80).rendered().write(
            to: thresholds, atomically: true, encoding: .utf8)
        let report = try CoverageRun(
            workspace: fixture.workspace, profile: .devel, changedSince: "HEAD", thresholdsFile: thresholds
        ).execute()
        let changed = try #require(report.changedLines)
        #expect(changed.executable > changed.covered)
        #expect(changed.covered > 0, "the tested function's lines count as covered")
        #expect(
            changed.uncovered.allSatisfy { $0.hasPrefix("Packages/A/Sources/A/New.swift:") }, "\(changed.uncovered)")
        #expect(report.failures.contains { $0.hasPrefix("changed lines since HEAD:") && $0.contains("New.swift:") })
    }
}

extension URL {
    fileprivate func createParent() throws -> URL {
        try FileManager.default.createDirectory(at: deletingLastPathComponent(), withIntermediateDirectories: true)
        return self
    }
}
