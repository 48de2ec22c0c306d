// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// Coverage of the lines a change added or modified (beyond rust-vmm: a gate on new code).
public struct ChangedLinesCoverage: Sendable, Equatable {
    /// Changed lines that hold code.
    public var executable: Int
    /// Of those, the ones executed by the tests.
    public var covered: Int
    /// `file:line` of changed code no test executed.
    public var uncovered: [String]

    /// Percentage of changed executable lines covered (100 when none changed).
    public var percent: Double { executable == 0 ? 100 : Double(covered) * 100 / Double(executable) }

    /// Added or modified line numbers per file from `git diff --unified=0` output.
    public static func changedLines(fromDiff diff: String) -> [String: Set<Int>] {
        var result: [String: Set<Int>] = [:]
        var file: String?
        for line in diff.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("+++ ") {
                let target = line.dropFirst(4)
                file = target == "/dev/null" ? nil : String(target.hasPrefix("b/") ? target.dropFirst(2) : target)
            } else if line.hasPrefix("@@"), let file {
                // @@ -a[,b] +c[,d] @@: lines c ..< c+d are new (d defaults to 1; 0 means pure deletion).
                guard let plus = line.split(separator: " ").first(where: { $0.hasPrefix("+") }) else { continue }
                let parts = plus.dropFirst().split(separator: ",")
                guard let start = Int(parts[0]) else { continue }
                let length = parts.count > 1 ? Int(parts[1]) ?? 0 : 1
                if length > 0 { result[file, default: []].formUnion(start..<(start + length)) }
            }
        }
        return result
    }

    /// Measures the change since `revision` (committed and uncommitted) in library and tool sources.
    public static func measure(
        since revision: String, workspace: Workspace, measurement: CoverageMeasurement,
        exclusions: [String: [String]] = [:]
    ) throws -> ChangedLinesCoverage {
        let diff = try ProcessRunner.run(
            ["git", "diff", "--unified=0", "--no-color", revision, "--", "*.swift"], in: workspace.root)
        guard diff.succeeded else {
            throw WorkspaceError("git diff \(revision) failed: \(diff.output.prefix(200))")
        }
        let untracked = try ProcessRunner.run(
            ["git", "ls-files", "--others", "--exclude-standard", "--", "*.swift"], in: workspace.root)
        var changed = changedLines(fromDiff: diff.output)
        for path in untracked.output.split(separator: "\n").map(String.init) {
            let text = (try? String(contentsOf: workspace.root.appendingPathComponent(path), encoding: .utf8)) ?? ""
            changed[path] = Set(1...max(1, text.split(separator: "\n", omittingEmptySubsequences: false).count))
        }
        // Only code that coverage gates: package, tool and VMM sources, not tests, minus exclusions.
        let gated = changed.keys.filter { path in
            guard let (package, inner) = CoverageMeasurement.owner(of: path), !path.contains("/Tests/") else {
                return false
            }
            return !(exclusions[package] ?? []).contains { inner == $0 || inner.hasPrefix($0 + "/") }
        }.sorted()
        let counts = try measurement.lineCounts(for: gated, workspace: workspace)
        var result = ChangedLinesCoverage(executable: 0, covered: 0, uncovered: [])
        for path in gated {
            // A file the test binary never compiled has no coverage data at all: every
            // changed line that looks like code counts as uncovered rather than as "no code".
            let perLine = counts[path] ?? codeLinesAsUncovered(path, workspace: workspace)
            for line in changed[path, default: []].sorted() {
                guard let count = perLine[line] else { continue }
                result.executable += 1
                if count > 0 { result.covered += 1 } else { result.uncovered.append("\(path):\(line)") }
            }
        }
        return result
    }

    static func codeLinesAsUncovered(_ path: String, workspace: Workspace) -> [Int: Int] {
        let text = (try? String(contentsOf: workspace.root.appendingPathComponent(path), encoding: .utf8)) ?? ""
        var result: [Int: Int] = [:]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let code = line.trimmingCharacters(in: .whitespaces)
            let isCode =
                !code.isEmpty && !code.hasPrefix("//") && !code.hasPrefix("import ")
                && code.contains(where: { $0.isLetter || $0.isNumber })
            if isCode { result[index + 1] = 0 }
        }
        return result
    }
}
