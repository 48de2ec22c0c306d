// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets

/// The steps `vmm-tools ci` runs, in order. Later issues append steps here
/// (coverage gate, riscv64, integration boots, release dry run).
public enum Pipeline {
    /// All CI steps for `workspace`. `emit` receives progress lines.
    public static func steps(for workspace: Workspace, emit: @escaping (String) -> Void) -> [CIStep] {
        [
            CIStep(name: "lint", summary: "swift-format, headers, manifests, changelogs, docs graph") {
                let findings = try Linter(workspace: workspace).run()
                for finding in findings { emit(finding.description) }
                return StepOutcome(
                    name: "lint", passed: findings.isEmpty, seconds: 0,
                    detail: findings.isEmpty ? "no findings" : "\(findings.count) findings")
            },
            CIStep(name: "release", summary: "release dry run: plan, prepare in memory, registry-ready archives") {
                let result = ReleaseCheck(workspace: workspace).run()
                for line in result.lines { emit(line) }
                return StepOutcome(name: "release", passed: result.passed, seconds: 0, detail: result.verdict)
            },
            CIStep(name: "build", summary: "swift build --build-tests (whole workspace, one graph)") {
                let result = try ProcessRunner.run(["swift", "build", "--build-tests"], in: workspace.root, echo: true)
                return StepOutcome(
                    name: "build", passed: result.succeeded, seconds: 0,
                    detail: result.succeeded ? "ok" : "exit \(result.status)")
            },
            CIStep(
                name: "first-contact",
                summary: "the README's first command, cold: empty HOME and cache, no ../shared (builds the guest)"
            ) {
                try FirstContact(workspaceRoot: workspace.root).run(emit: emit)
            },
            CIStep(name: "guest", summary: "the host's guest kernel and the initramfs (vmm-tools guest; cached)") {
                try guestStep(workspace: workspace, emit: emit)
            },
            CIStep(name: "test", summary: "swift test --enable-code-coverage (every package, Tools, IntegrationVMM)") {
                try testStep(name: "test", arguments: ["swift", "test", "--enable-code-coverage"], in: workspace.root)
            },
            CIStep(name: "coverage", summary: "per-package coverage gate (ci profile) against coverage/<arch>.json") {
                let report = try CoverageRun(workspace: workspace, profile: .ci, runTests: false).execute()
                for line in report.lines { emit(line) }
                return StepOutcome(name: "coverage", passed: report.passed, seconds: 0, detail: report.verdictLine)
            },
            CIStep(name: "riscv64", summary: "portable packages' cases on riscv64 (Embedded Swift under qemu)") {
                let report = try RiscV64Run(workspace: workspace).execute()
                for line in report.lines { emit(line) }
                return StepOutcome(
                    name: "riscv64", passed: report.succeeded, seconds: 0,
                    detail: "\(report.passed) passed, \(report.failed) failed on riscv64",
                    tests: TestSummary(passed: report.passed, failed: report.failed))
            },
            CIStep(name: "fuzz", summary: "every libFuzzer target builds and survives a short run") {
                let outcomes = try FuzzRun(workspace: workspace, runs: ciFuzzRuns).execute()
                for outcome in outcomes {
                    emit(outcome.line)
                    for line in outcome.problem where !outcome.passed { emit("  \(line)") }
                }
                let failed = outcomes.filter { !$0.passed }.map(\.target.description)
                return StepOutcome(
                    name: "fuzz", passed: !outcomes.isEmpty && failed.isEmpty, seconds: 0,
                    detail: failed.isEmpty
                        ? "\(outcomes.count) targets, \(ciFuzzRuns) executions each"
                        : "failed: \(failed.joined(separator: ", "))")
            },
            CIStep(name: "standalone", summary: "each package builds and tests on its own (the released unit)") {
                let order = try DependencyGraph.load(workspace).topologicalOrder()
                var failures: [String] = []
                var tests = TestSummary(passed: 0, failed: 0)
                for package in order {
                    emit("==> standalone: \(package)")
                    let outcome = try testStep(
                        name: package,
                        arguments: ["swift", "test", "--package-path", workspace.packageDirectory(package).path],
                        in: workspace.root)
                    if !outcome.passed { failures.append(package) }
                    if let counted = outcome.tests { tests = tests + counted }
                }
                let detail =
                    failures.isEmpty
                    ? "\(order.count) packages, \(tests.total) tests"
                    : "failed: \(failures.joined(separator: ", "))"
                return StepOutcome(name: "standalone", passed: failures.isEmpty, seconds: 0, detail: detail)
            },
        ]
    }

    /// Executions per fuzz target in CI: enough to exercise every parser path the seeds
    /// reach, short enough for seconds per target (long runs: `vmm-tools fuzz`).
    public static let ciFuzzRuns = 20_000

    /// Prepares the guest kernel for the host's flavor and the initramfs built from this
    /// workspace's `ci/guest/init.sh` (instant when cached), then points the later steps at
    /// exactly those files through `VMM_GUEST_KERNEL` and `VMM_GUEST_INITRAMFS`, so the boot
    /// tests never pick up an initramfs another clone built from a different script.
    public static func guestStep(workspace: Workspace, emit: @escaping (String) -> Void) throws -> StepOutcome {
        let cache = GuestCache()
        let flavor = GuestFlavor.forHost()
        do {
            let entry = try KernelBuilder(workspaceRoot: workspace.root, cache: cache, log: emit).prepare(flavor)
            let initramfs = try InitramfsBuilder.fromWorkspace(workspace.root).build(into: cache, log: emit)
            let kernel = entry.appendingPathComponent(GuestAssets.kernelFileName)
            // SAFETY: CI steps run one at a time on this thread and no child runs now, so nothing reads the
            // environment while it changes; setenv copies the bridged C strings, which live for the call.
            unsafe setenv("VMM_GUEST_KERNEL", kernel.path, 1)
            unsafe setenv("VMM_GUEST_INITRAMFS", initramfs.path, 1)
            return StepOutcome(
                name: "guest", passed: true, seconds: 0,
                detail:
                    "\(flavor.rawValue) \(entry.lastPathComponent), \(initramfs.deletingLastPathComponent().lastPathComponent)"
            )
        } catch {
            emit("guest: \(error)")
            return StepOutcome(name: "guest", passed: false, seconds: 0, detail: "\(error)")
        }
    }

    /// Points test processes at the guest kernel and initramfs `GuestAssets` finds, through
    /// `VMM_GUEST_KERNEL` and `VMM_GUEST_INITRAMFS`, unless they are set (the guest step sets them
    /// to what it built). Packages cannot depend on the Tools' `GuestAssets`; their real-kernel
    /// tests read these variables, so every test finds assets through the same lookup.
    public static func exportGuestAssets(
        workspaceRoot: URL, environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        guard environment["VMM_GUEST_KERNEL"].map({ $0.isEmpty }) ?? true,
            let assets = try? GuestAssets.locate(environment: environment, repositoryRoot: workspaceRoot)
        else { return }
        // SAFETY: called between CI steps on the only thread that touches the environment (no child runs yet);
        // setenv copies the bridged C strings, which live for the call.
        unsafe setenv("VMM_GUEST_KERNEL", assets.kernel.path, 1)
        if let initramfs = assets.initramfs, environment["VMM_GUEST_INITRAMFS"].map({ $0.isEmpty }) ?? true {
            // SAFETY: same single-threaded point as the setenv just above; setenv copies the C string.
            unsafe setenv("VMM_GUEST_INITRAMFS", initramfs.path, 1)
        }
    }

    /// Runs a `swift test` command line and reads its counts. A run that exits 0
    /// but executed no test at all fails: a silent test binary hides breakage.
    public static func testStep(name: String, arguments: [String], in directory: URL) throws -> StepOutcome {
        exportGuestAssets(workspaceRoot: directory)
        let result = try ProcessRunner.run(arguments, in: directory, echo: true)
        guard let summary = TestSummary.parse(result.output) else {
            return StepOutcome(
                name: name, passed: false, seconds: 0, detail: "no test summary in output (exit \(result.status))")
        }
        let passed = result.succeeded && summary.failed == 0 && summary.total > 0
        var detail = "\(summary.passed) passed, \(summary.failed) failed"
        if summary.total == 0 { detail += " (no tests ran)" }
        if !result.succeeded && summary.failed == 0 { detail += " (exit \(result.status))" }
        return StepOutcome(name: name, passed: passed, seconds: 0, detail: detail, tests: summary)
    }
}
