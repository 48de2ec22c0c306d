// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// Covered and total counts of one metric (lines, regions or functions).
public struct CoverageCount: Sendable, Equatable {
    /// Instrumented items.
    public var count: Int
    /// Items executed at least once.
    public var covered: Int

    /// Creates a count.
    public init(count: Int, covered: Int) {
        self.count = count
        self.covered = covered
    }

    /// Percentage covered; 100 when there is nothing to cover.
    public var percent: Double { count == 0 ? 100 : Double(covered) * 100 / Double(count) }

    /// Sums two counts.
    public static func + (lhs: CoverageCount, rhs: CoverageCount) -> CoverageCount {
        CoverageCount(count: lhs.count + rhs.count, covered: lhs.covered + rhs.covered)
    }

    static let zero = CoverageCount(count: 0, covered: 0)
}

/// The three metrics the gate compares.
public enum CoverageMetric: String, CaseIterable, Sendable {
    /// Line coverage (the package's score).
    case lines
    /// Region coverage.
    case regions
    /// Function coverage.
    case functions
}

/// Coverage of one source file, as llvm-cov summarises it.
public struct FileCoverage: Sendable, Equatable {
    /// Path relative to the workspace root.
    public var path: String
    /// Counts per metric.
    public var metrics: [CoverageMetric: CoverageCount]
}

/// Coverage of one package (or `Tools`, `IntegrationVMM`): the sum of its files.
public struct PackageCoverage: Sendable, Equatable {
    /// Package name.
    public var name: String
    /// Its files that were measured (after exclusions).
    public var files: [FileCoverage]

    /// The summed count for `metric`.
    public func count(_ metric: CoverageMetric) -> CoverageCount {
        files.reduce(.zero) { $0 + ($1.metrics[metric] ?? .zero) }
    }

    /// The percentage for `metric`.
    public func percent(_ metric: CoverageMetric) -> Double { count(metric).percent }
}

/// Runs tests with coverage and reads the results with the toolchain's llvm-cov.
public struct CoverageMeasurement: Sendable {
    /// Every measured source file (tests and build products excluded).
    public var files: [FileCoverage]
    /// The instrumented test binary and its merged profile, for line-level queries.
    public var testBinary: URL
    /// The merged profile (`default.profdata`).
    public var profile: URL

    /// The package (or `Tools`/`IntegrationVMM`) a workspace-relative path belongs to, and the path inside it.
    public static func owner(of path: String) -> (package: String, pathInPackage: String)? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count > 2 && parts[0] == "Packages" {
            return (String(parts[1]), parts.dropFirst(2).joined(separator: "/"))
        }
        if parts.count > 1 && (parts[0] == "Tools" || parts[0] == "IntegrationVMM") {
            return (String(parts[0]), parts.dropFirst(1).joined(separator: "/"))
        }
        return nil
    }

    /// Groups files by owner, dropping those under an excluded path (relative to the package folder).
    public func packages(excluding exclusions: [String: [String]] = [:]) -> [PackageCoverage] {
        var grouped: [String: [FileCoverage]] = [:]
        for file in files {
            guard let (package, inner) = Self.owner(of: file.path) else { continue }
            let excluded = (exclusions[package] ?? []).contains {
                inner == $0 || inner.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/")
            }
            if !excluded { grouped[package, default: []].append(file) }
        }
        return grouped.keys.sorted().map { PackageCoverage(name: $0, files: grouped[$0]!) }
    }

    /// The toolchain's `llvm-cov` (next to `swift`), which understands the profiles it writes.
    public static func toolchainTool(_ name: String) throws -> String {
        let which = try ProcessRunner.run(["which", "swift"])
        let swift = which.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let resolved = URL(fileURLWithPath: swift).resolvingSymlinksInPath()
        let candidate = resolved.deletingLastPathComponent().appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        throw WorkspaceError("no \(name) next to \(resolved.path); the toolchain's \(name) is required")
    }

    /// Runs `swift test --enable-code-coverage` in `workspace` (unless `runTests` is false,
    /// reusing the last coverage run) and reads the per-file summary.
    public static func measure(
        _ workspace: Workspace, runTests: Bool = true, echo: Bool = false, scratchPath: String? = nil
    ) throws -> CoverageMeasurement {
        let scratch = scratchPath.map { ["--scratch-path", $0] } ?? []
        if runTests {
            let result = try ProcessRunner.run(
                ["swift", "test", "--enable-code-coverage"] + scratch, in: workspace.root, echo: echo)
            if !result.succeeded {
                throw WorkspaceError("swift test --enable-code-coverage failed (exit \(result.status))")
            }
        }
        let binPath = try ProcessRunner.run(["swift", "build", "--show-bin-path"] + scratch, in: workspace.root)
        let bin = URL(
            fileURLWithPath: binPath.output.trimmingCharacters(in: .whitespacesAndNewlines)
                .split(separator: "\n").last.map(String.init) ?? "")
        let profile = bin.appendingPathComponent("codecov/default.profdata")
        let bundles = ((try? FileManager.default.contentsOfDirectory(atPath: bin.path)) ?? [])
            .filter { $0.hasSuffix("PackageTests.xctest") }
        guard FileManager.default.fileExists(atPath: profile.path), let bundle = bundles.first else {
            throw WorkspaceError("no coverage data in \(bin.path); run `swift test --enable-code-coverage` first")
        }
        let testBinary = bin.appendingPathComponent(bundle)
        let llvmCov = try toolchainTool("llvm-cov")
        let export = try ProcessRunner.run(
            [llvmCov, "export", "-summary-only", "-instr-profile", profile.path, testBinary.path])
        guard export.succeeded, let start = export.output.firstIndex(of: "{") else {
            throw WorkspaceError("llvm-cov export failed: \(export.output.prefix(300))")
        }
        let files = try parseExport(Data(export.output[start...].utf8), workspace: workspace)
        return CoverageMeasurement(files: files, testBinary: testBinary, profile: profile)
    }

    /// Reads `llvm-cov export -summary-only` JSON, keeping workspace sources that are not tests.
    static func parseExport(_ data: Data, workspace: Workspace) throws -> [FileCoverage] {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let entries = (root["data"] as? [[String: Any]])?.first?["files"] as? [[String: Any]]
        else { throw WorkspaceError("llvm-cov export output has no data[0].files") }
        var files: [FileCoverage] = []
        for entry in entries {
            guard let name = entry["filename"] as? String, let summary = entry["summary"] as? [String: Any] else {
                continue
            }
            let path = workspace.relativePath(URL(fileURLWithPath: name))
            if path.hasPrefix("/") || path.contains("/.build") || path.contains("/Tests/") { continue }
            var metrics: [CoverageMetric: CoverageCount] = [:]
            for metric in CoverageMetric.allCases {
                let values = summary[metric.rawValue] as? [String: Any] ?? [:]
                metrics[metric] = CoverageCount(
                    count: values["count"] as? Int ?? 0, covered: values["covered"] as? Int ?? 0)
            }
            files.append(FileCoverage(path: path, metrics: metrics))
        }
        return files.sorted { $0.path < $1.path }
    }

    /// Execution counts per line of `paths` (workspace-relative): nil for lines with no code.
    public func lineCounts(for paths: [String], workspace: Workspace) throws -> [String: [Int: Int]] {
        if paths.isEmpty { return [:] }
        let llvmCov = try Self.toolchainTool("llvm-cov")
        let absolute = paths.map { workspace.root.appendingPathComponent($0).path }
        let result = try ProcessRunner.run(
            [llvmCov, "show", "-instr-profile", profile.path, testBinary.path] + absolute)
        return Self.parseShow(result.output, workspace: workspace, singleFile: paths.count == 1 ? paths[0] : nil)
    }

    /// Parses `llvm-cov show` text: `path:` headers, then `  line|  count|source`.
    static func parseShow(_ text: String, workspace: Workspace, singleFile: String?) -> [String: [Int: Int]] {
        var result: [String: [Int: Int]] = [:]
        var current = singleFile
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("/") && line.hasSuffix(":") {
                current = workspace.relativePath(URL(fileURLWithPath: String(line.dropLast())))
                continue
            }
            let columns = line.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            guard let file = current, columns.count == 3,
                let number = Int(columns[0].trimmingCharacters(in: .whitespaces))
            else { continue }
            let countText = columns[1].trimmingCharacters(in: .whitespaces)
            if countText.isEmpty { continue }
            result[file, default: [:]][number] = Self.parseCount(countText)
        }
        return result
    }

    /// `12`, `1.5k`, `3.2M`, `1G` → an approximate integer (only zero versus non-zero matters).
    static func parseCount(_ text: String) -> Int {
        let multipliers: [Character: Double] = ["k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12]
        if let last = text.last, let multiplier = multipliers[last], let value = Double(text.dropLast()) {
            return Int(value * multiplier)
        }
        return Int(Double(text) ?? 0)
    }
}
