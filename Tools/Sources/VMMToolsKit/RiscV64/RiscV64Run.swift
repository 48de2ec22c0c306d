// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// Builds the portable packages and their test cases for riscv64 with Embedded
/// Swift, links them statically and runs them under `qemu-riscv64-static`.
public struct RiscV64Run {
    /// Compiler flags that work for riscv64 Embedded Swift on these machines (PLATFORM-NOTES.md).
    public static let embeddedFlags = [
        "-target", "riscv64-none-none-eabi", "-enable-experimental-feature", "Embedded",
        "-enable-experimental-feature", "Extern", "-wmo", "-parse-as-library", "-Xcc", "-march=rv64gc", "-Xcc",
        "-mabi=lp64d", "-Osize",
    ]

    /// The workspace.
    public var workspace: Workspace
    /// Where objects and binaries go.
    public var buildDirectory: URL
    /// Echo compiler and qemu output.
    public var echo: Bool

    /// Creates a run; objects go to `.build/riscv64` unless `buildDirectory` is given.
    public init(workspace: Workspace, buildDirectory: URL? = nil, echo: Bool = false) {
        self.workspace = workspace
        self.buildDirectory = buildDirectory ?? workspace.root.appendingPathComponent(".build/riscv64")
        self.echo = echo
    }

    /// The result of a run.
    public struct Report: Sendable {
        /// Lines to print (per-suite results, failures).
        public var lines: [String]
        /// Cases that passed on riscv64.
        public var passed: Int
        /// Cases that failed (or did not run because the binary crashed).
        public var failed: Int
        /// Cases the same suites hold when built for the host.
        public var hostCases: Int
        /// Modules that did not build, with the compiler's first error.
        public var buildFailures: [String]
        /// The riscv64 test binary.
        public var binary: URL?
        /// True when everything built, the binary is a riscv64 ELF, and no case failed.
        public var succeeded: Bool
    }

    /// Compiles every portable library module (not the test cases) in Embedded mode,
    /// objects only: the check `vmm-tools lint` runs so host-only code is caught early.
    public func checkEmbeddedCompiles() throws -> [String] {
        let modules = try PortableModules.discover(in: workspace).filter { !$0.isTestCases }
        return try compile(modules, embedded: true, into: buildDirectory.appendingPathComponent("lint"))
    }

    /// Builds, links and runs.
    public func execute() throws -> Report {
        let modules = try PortableModules.discover(in: workspace)
        let caseModules = modules.filter(\.isTestCases).map(\.name)
        if caseModules.isEmpty {
            return Report(
                lines: ["no portable packages (no <Package>PortableTests target)"], passed: 0, failed: 0,
                hostCases: 0, buildFailures: [], binary: nil, succeeded: false)
        }
        let riscvDirectory = buildDirectory.appendingPathComponent("embedded")
        let hostDirectory = buildDirectory.appendingPathComponent("host")
        // Start clean: the link step takes every object in the folder.
        try? FileManager.default.removeItem(at: riscvDirectory)
        try? FileManager.default.removeItem(at: hostDirectory)
        var failures = try compile(modules, embedded: true, into: riscvDirectory)
        if !failures.isEmpty {
            return Report(
                lines: failures.map { "build failed: \($0)" }, passed: 0, failed: 0, hostCases: 0,
                buildFailures: failures, binary: nil, succeeded: false)
        }
        // The runner: every module's cases in one binary.
        let binary = riscvDirectory.appendingPathComponent("portable-tests")
        failures += try buildRunner(caseModules, embedded: true, directory: riscvDirectory, output: binary)
        // The same cases built for the host, to count what the riscv64 build covers.
        var hostCases = 0
        if failures.isEmpty, try compile(modules, embedded: false, into: hostDirectory).isEmpty {
            let hostBinary = hostDirectory.appendingPathComponent("portable-tests")
            if try buildRunner(caseModules, embedded: false, directory: hostDirectory, output: hostBinary).isEmpty {
                let host = try ProcessRunner.run([hostBinary.path])
                hostCases = Self.parseTotals(host.output).map { $0.passed + $0.failed } ?? 0
            }
        }
        guard failures.isEmpty else {
            return Report(
                lines: failures.map { "build failed: \($0)" }, passed: 0, failed: 0, hostCases: hostCases,
                buildFailures: failures, binary: nil, succeeded: false)
        }
        var lines: [String] = []
        guard let machine = try ELFHeader.machine(of: binary), machine == ELFHeader.riscv else {
            return Report(
                lines: ["\(binary.path) is not a riscv64 ELF"], passed: 0, failed: 0, hostCases: hostCases,
                buildFailures: [], binary: binary, succeeded: false)
        }
        lines.append("built \(workspace.relativePath(binary)): 64-bit RISC-V ELF, statically linked")
        let run = try ProcessRunner.run(["qemu-riscv64-static", binary.path], echo: echo)
        for line in run.output.split(separator: "\n") where line.hasPrefix("suite ") || line.hasPrefix("FAIL ") {
            lines.append(String(line))
        }
        var (passed, failed) = Self.parseTotals(run.output) ?? (0, 0)
        if run.status != 0 && failed == 0 {
            // Crashed (a trap exits 132) before printing its totals: count what did not finish.
            failed = max(1, hostCases - passed)
            lines.append("riscv64 binary exited with status \(run.status) before finishing")
        }
        let verdict = Self.verdict(status: run.status, passed: passed, failed: failed, hostCases: hostCases)
        lines.append(contentsOf: verdict.lines)
        return Report(
            lines: lines, passed: passed, failed: failed, hostCases: hostCases, buildFailures: [], binary: binary,
            succeeded: verdict.succeeded)
    }

    /// The least share of the host's portable cases that must run on riscv64, in percent.
    public static let minimumShare = 80.0

    /// Whether a riscv64 run counts as a success: it exited 0, nothing failed, and at least
    /// ``minimumShare`` percent of the cases the host ran also ran on riscv64 (a suite that
    /// silently stops building for Embedded Swift must not pass unnoticed).
    static func verdict(status: Int32, passed: Int, failed: Int, hostCases: Int) -> (succeeded: Bool, lines: [String]) {
        let ran = passed + failed
        let share = hostCases == 0 ? 0 : Double(ran) * 100 / Double(hostCases)
        var lines = [String(format: "riscv64 ran %d of %d portable cases (%.0f%%)", ran, hostCases, share)]
        let enough = share >= minimumShare
        if !enough {
            lines.append(String(format: "riscv64 ran fewer than %.0f%% of the host's portable cases", minimumShare))
        }
        return (status == 0 && failed == 0 && passed > 0 && enough, lines)
    }

    /// Compiles `modules` in order to objects and module files in `directory`; returns failures.
    func compile(_ modules: [PortableModule], embedded: Bool, into directory: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var failures: [String] = []
        for module in modules {
            let sources = module.sources()
            if sources.isEmpty { continue }
            var arguments = ["swiftc"] + (embedded ? Self.embeddedFlags : ["-wmo", "-parse-as-library", "-Onone"])
            arguments += [
                "-module-name", module.name, "-emit-module", "-emit-module-path",
                directory.appendingPathComponent("\(module.name).swiftmodule").path, "-I", directory.path, "-c",
            ]
            arguments += sources.map(\.path)
            arguments += ["-o", directory.appendingPathComponent("\(module.name).o").path]
            let result = try ProcessRunner.run(arguments, in: workspace.root, echo: echo)
            if !result.succeeded {
                let firstError =
                    result.output.split(separator: "\n").first { $0.contains("error:") }.map(String.init)
                    ?? "exit \(result.status)"
                failures.append("\(module.name) (\(embedded ? "Embedded riscv64" : "host")): \(firstError)")
            }
        }
        return failures
    }

    /// Writes the runner's main, compiles it and links everything.
    func buildRunner(_ caseModules: [String], embedded: Bool, directory: URL, output: URL) throws -> [String] {
        var main = "// Generated by vmm-tools riscv64.\nimport PortableTesting\n"
        main += caseModules.map { "import \($0)\n" }.joined()
        main += "\n@_extern(c, \"exit\") func exit(_ status: Int32)\n"
        main += "@_extern(c, \"vmm_unbuffer_stdout\") func unbufferStdout()\n\n"
        main += "@main struct PortableTestMain {\n    static func main() {\n        unbufferStdout()\n"
        main += "        var cases: [PortableTestCase] = []\n"
        main += caseModules.map { "        cases += \($0).allCases\n" }.joined()
        main += "        exit(PortableTestRunner.run(cases) == 0 ? 0 : 1)\n    }\n}\n"
        let mainFile = directory.appendingPathComponent("main.swift")
        try main.write(to: mainFile, atomically: true, encoding: .utf8)
        // stdout must be unbuffered so output before a trap is not lost.
        let helper = directory.appendingPathComponent("unbuffer.c")
        try "#include <stdio.h>\nvoid vmm_unbuffer_stdout(void) { setvbuf(stdout, 0, _IONBF, 0); }\n"
            .write(to: helper, atomically: true, encoding: .utf8)
        var arguments = ["swiftc"] + (embedded ? Self.embeddedFlags : ["-wmo", "-parse-as-library", "-Onone"])
        if !embedded { arguments += ["-enable-experimental-feature", "Extern"] }
        arguments += ["-module-name", "PortableTestMain", "-I", directory.path, "-c", mainFile.path]
        arguments += ["-o", directory.appendingPathComponent("main.o").path]
        let compile = try ProcessRunner.run(arguments, in: workspace.root, echo: echo)
        if !compile.succeeded { return ["runner main: \(compile.output.prefix(400))"] }
        let cc = embedded ? "riscv64-linux-gnu-gcc" : "cc"
        let helperObject = directory.appendingPathComponent("unbuffer.o")
        let helperBuild = try ProcessRunner.run([cc, "-c", helper.path, "-o", helperObject.path])
        if !helperBuild.succeeded { return ["\(cc): \(helperBuild.output.prefix(300))"] }
        let objects = (caseModules.isEmpty ? [] : try FileManager.default.contentsOfDirectory(atPath: directory.path))
            .filter { $0.hasSuffix(".o") }.sorted().map { directory.appendingPathComponent($0).path }
        let link =
            embedded
            ? [cc, "-static"] + objects + ["-lm", "-o", output.path]
            : ["swiftc"] + objects + ["-o", output.path]
        let linked = try ProcessRunner.run(link, in: workspace.root, echo: echo)
        return linked.succeeded ? [] : ["link: \(linked.output.prefix(400))"]
    }

    /// The closing `N passed, M failed` line of a runner's output.
    static func parseTotals(_ output: String) -> (passed: Int, failed: Int)? {
        for line in output.split(separator: "\n").reversed() {
            let words = line.split(separator: " ")
            if words.count == 4, words[1] == "passed,", words[3] == "failed", let passed = Int(words[0]),
                let failed = Int(words[2])
            {
                return (passed, failed)
            }
        }
        return nil
    }
}

/// Reads the machine field of an ELF header.
public enum ELFHeader {
    /// `EM_RISCV`.
    public static let riscv: UInt16 = 243
    /// `EM_X86_64`.
    public static let x86_64: UInt16 = 62

    /// The `e_machine` of a 64-bit little-endian ELF file, or nil when it is not one.
    public static func machine(of file: URL) throws -> UInt16? {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        let header = [UInt8](try handle.read(upToCount: 20) ?? Data())
        // \x7fELF, class 2 (64-bit), data 1 (little-endian); e_machine at offset 18.
        guard header.count == 20, header[0..<4] == [0x7f, 0x45, 0x4c, 0x46], header[4] == 2, header[5] == 1 else {
            return nil
        }
        return UInt16(header[18]) | UInt16(header[19]) << 8
    }
}
