// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// One libFuzzer target: a package's `Fuzz/run.sh` builds and runs it by name.
public struct FuzzTarget: Hashable, Sendable, CustomStringConvertible {
    /// The package whose `Fuzz/run.sh` owns the target.
    public var package: String
    /// The target's name, as `run.sh --list` prints it.
    public var name: String

    /// `Package/target`.
    public var description: String { "\(package)/\(name)" }
}

/// What one target's run showed.
public struct FuzzOutcome: Sendable {
    /// The target.
    public var target: FuzzTarget
    /// Executions libFuzzer reports (`stat::number_of_executed_units`), nil when it printed none.
    public var executions: Int?
    /// The executions asked for.
    public var requested: Int
    /// The run's exit status (libFuzzer exits non-zero on a crash, a leak or a timeout).
    public var status: Int32
    /// The lines that explain a failure (libFuzzer's `ERROR:`/`SUMMARY:` lines, or the tail of the output).
    public var problem: [String]

    /// True when the run exited 0 and executed everything asked for.
    public var passed: Bool { status == 0 && (executions ?? 0) >= requested }

    /// One line for the report.
    public var line: String {
        let count = executions.map(String.init) ?? "no"
        return passed
            ? "fuzz \(target): \(count) executions, no crash"
            : "fuzz \(target): FAILED (exit \(status), \(count) of \(requested) executions)"
    }
}

/// `vmm-tools fuzz`: finds every package's libFuzzer targets (`Packages/<P>/Fuzz/run.sh --list`)
/// and runs each for a number of executions; in CI a short run proves the targets still build
/// and find nothing quickly.
///
/// ```swift
/// let run = FuzzRun(workspace: try Workspace.locate(from: cwd), runs: 20_000)
/// for outcome in try run.execute() { print(outcome.line) }
/// ```
public struct FuzzRun {
    /// The workspace.
    public var workspace: Workspace
    /// Executions per target.
    public var runs: Int
    /// Only these packages (all when empty).
    public var packages: Set<String> = []
    /// Receives each output line as it arrives (the fuzzer's progress), or nil for quiet.
    public var echo: Bool = false

    /// Creates a run.
    public init(workspace: Workspace, runs: Int, packages: Set<String> = [], echo: Bool = false) {
        self.workspace = workspace
        self.runs = runs
        self.packages = packages
        self.echo = echo
    }

    /// Each package's `Fuzz/run.sh` and the targets it lists, in package-name order.
    public func targets() throws -> [FuzzTarget] {
        let root = workspace.root.appendingPathComponent("Packages")
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        var targets: [FuzzTarget] = []
        for package in names where packages.isEmpty || packages.contains(package) {
            let script = root.appendingPathComponent("\(package)/Fuzz/run.sh")
            guard FileManager.default.fileExists(atPath: script.path) else { continue }
            let listed = try ProcessRunner.run(["sh", script.path, "--list"], in: workspace.root)
            guard listed.succeeded else {
                throw FuzzError("\(workspace.relativePath(script)) --list failed: \(listed.output.suffix(300))")
            }
            for name in listed.output.split(whereSeparator: \.isNewline) where !name.isEmpty {
                targets.append(FuzzTarget(package: package, name: String(name)))
            }
        }
        return targets
    }

    /// Builds and runs every target; throws only when a script cannot be found or started.
    public func execute() throws -> [FuzzOutcome] {
        try targets().map { target in
            let script = workspace.root.appendingPathComponent("Packages/\(target.package)/Fuzz/run.sh")
            let result = try ProcessRunner.run(
                ["sh", script.path, target.name, String(runs)], in: workspace.root, echo: echo)
            return Self.outcome(of: target, requested: runs, status: result.status, output: result.output)
        }
    }

    /// Reads libFuzzer's final statistics (`-print_final_stats=1`) and failure lines from `output`.
    static func outcome(of target: FuzzTarget, requested: Int, status: Int32, output: String) -> FuzzOutcome {
        let lines = output.split(whereSeparator: \.isNewline).map(String.init)
        let executions = lines.lazy.compactMap { line -> Int? in
            guard line.hasPrefix("stat::number_of_executed_units:") else { return nil }
            return Int(line.dropFirst("stat::number_of_executed_units:".count).trimmingCharacters(in: .whitespaces))
        }.first
        var problem = lines.filter {
            $0.contains("ERROR:") || $0.hasPrefix("SUMMARY:") || $0.contains("artifact_prefix")
        }
        if status != 0 && problem.isEmpty { problem = Array(lines.suffix(5)) }
        return FuzzOutcome(
            target: target, executions: executions, requested: requested, status: status, problem: problem)
    }
}

/// A fuzz script that could not be used.
public struct FuzzError: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    init(_ description: String) { self.description = description }
}
