// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import Foundation
import VMMToolsKit

@main
struct VMMTools: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vmm-tools",
        abstract: "Checks, tests and release tooling for the swift-vmm workspace.",
        subcommands: [
            Graph.self,
            Test.self,
            Lint.self,
            CI.self,
            Coverage.self,
            RiscV64.self,
            Fuzz.self,
            Bench.self,
            Guest.self,
            Release.self,
        ])
}

/// Options shared by every subcommand.
struct WorkspaceOptions: ParsableArguments {
    @Option(help: "Workspace root (default: found from the current directory).")
    var root: String?

    func workspace() throws -> Workspace {
        if let root { return Workspace(root: URL(fileURLWithPath: root)) }
        do {
            return try Workspace.locate()
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// Writes a line to standard output without buffering, so output interleaves
/// correctly with child processes that share the terminal or pipe.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ line: String) -> ExitCode {
    FileHandle.standardError.write(Data((line + "\n").utf8))
    return ExitCode.failure
}

extension DependencyGraph.Format: ExpressibleByArgument {}

struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the packages in dependency order (dependencies first).")

    @OptionGroup var options: WorkspaceOptions
    @Option(help: "Output format: text, json or dot.") var format: DependencyGraph.Format = .text
    @Flag(help: "Rewrite the graph embedded in docs/architecture.md.") var writeDocs = false

    func run() throws {
        let workspace = try options.workspace()
        let graph = try DependencyGraph.load(workspace)
        do {
            if writeDocs {
                let url = workspace.root.appendingPathComponent(ArchitectureDocs.relativePath)
                let document = (try? String(contentsOf: url, encoding: .utf8)) ?? "# Architecture\n"
                try ArchitectureDocs.replacingGraph(in: document, with: graph.render(.dot))
                    .write(to: url, atomically: true, encoding: .utf8)
                say("graph: wrote \(ArchitectureDocs.relativePath) (\(graph.nodes.count) packages)")
                return
            }
            FileHandle.standardOutput.write(Data(try graph.render(format).utf8))
        } catch let cycle as DependencyCycleError {
            throw fail("graph: \(cycle)")
        }
    }
}

struct Test: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every test in the workspace, or one package's tests standalone.")

    @OptionGroup var options: WorkspaceOptions
    @Option(help: "Run only this package, standalone (swift test --package-path Packages/<P>).")
    var package: String?
    @Option(help: "Passed to swift test --filter.") var filter: String?

    func run() throws {
        let workspace = try options.workspace()
        var arguments = ["swift", "test"]
        var label = "workspace"
        if let package {
            guard workspace.packageNames().contains(package) else {
                throw fail(
                    "test: no package '\(package)'; packages: \(workspace.packageNames().joined(separator: ", "))")
            }
            arguments += ["--package-path", workspace.packageDirectory(package).path]
            label = package
        }
        if let filter { arguments += ["--filter", filter] }
        let outcome = try Pipeline.testStep(name: label, arguments: arguments, in: workspace.root)
        say("test: \(label): \(outcome.detail)")
        if !outcome.passed { throw ExitCode.failure }
    }
}

struct Lint: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Format, license headers, manifest consistency, changelogs, docs graph, SAFETY comments.")

    @OptionGroup var options: WorkspaceOptions
    @Option(
        name: .customLong("rule"),
        help: "Run only these rules (repeatable): \(LintRule.allCases.map(\.rawValue).joined(separator: ", ")).")
    var rules: [String] = []

    func run() throws {
        let workspace = try options.workspace()
        var selected = Set(LintRule.allCases)
        if !rules.isEmpty {
            selected = []
            for name in rules {
                guard let rule = LintRule(rawValue: name) else { throw fail("lint: unknown rule '\(name)'") }
                selected.insert(rule)
            }
        }
        let findings = try Linter(workspace: workspace).run(selected)
        for finding in findings { say(finding.description) }
        if findings.isEmpty {
            say("lint: no findings (\(selected.count) rules)")
        } else {
            throw fail("lint: \(findings.count) findings")
        }
    }
}

struct CI: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every CI step in order; ends with `N passed, M failed`.")

    @OptionGroup var options: WorkspaceOptions
    @Option(help: "Run only these steps (comma-separated).") var only: String?
    @Option(help: "Skip these steps (comma-separated).") var skip: String?
    @Flag(help: "List the steps and exit.") var list = false
    @Flag(help: "Also run integration-vmm's 20-boot soak test (sets VMM_SOAK=1 for the test step).") var soak = false

    func run() throws {
        let workspace = try options.workspace()
        // SAFETY: runs first, before any step starts a thread or child that reads the environment; setenv copies.
        if soak { unsafe setenv("VMM_SOAK", "1", 1) }  // inherited by `swift test`; the soak test is opt-in
        var steps = Pipeline.steps(for: workspace, emit: say)
        if list {
            for step in steps { say("\(step.name): \(step.summary)") }
            return
        }
        let known = Set(steps.map(\.name))
        func names(_ list: String?) throws -> Set<String>? {
            guard let list else { return nil }
            let names = Set(list.split(separator: ",").map { String($0) })
            if let unknown = names.subtracting(known).first {
                throw fail("ci: unknown step '\(unknown)'; steps: \(steps.map(\.name).joined(separator: ", "))")
            }
            return names
        }
        if let only = try names(only) { steps = steps.filter { only.contains($0.name) } }
        if let skip = try names(skip) { steps = steps.filter { !skip.contains($0.name) } }
        let outcomes = CIRunner.run(steps, print: say)
        if outcomes.contains(where: { !$0.passed }) { throw ExitCode.failure }
    }
}
