// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// The result of a finished child process.
public struct ProcessResult: Sendable {
    /// Exit status, or 128 + signal number when the child was killed by a signal.
    public var status: Int32
    /// Standard output and standard error, interleaved as the child wrote them.
    public var output: String
    /// True when the child exited with status 0.
    public var succeeded: Bool { status == 0 }
}

/// An error starting a child process (not a non-zero exit, which is a result).
public struct ProcessLaunchError: Error, CustomStringConvertible {
    /// The command line that could not start.
    public var command: [String]
    /// Why it could not start.
    public var reason: String
    /// `cannot run <command>: <reason>`.
    public var description: String { "cannot run \(command.joined(separator: " ")): \(reason)" }
}

/// Runs child processes for the tools, optionally echoing their output live.
public enum ProcessRunner {
    /// Runs `arguments` (looked up on `PATH`) in `directory`, capturing merged stdout and stderr.
    ///
    /// With `echo`, output is also copied to this process's standard output as it
    /// arrives, so long builds show progress. Standard input is `/dev/null`.
    public static func run(
        _ arguments: [String], in directory: URL? = nil, echo: Bool = false, environment: [String: String] = [:]
    ) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ProcessLaunchError(command: arguments, reason: "\(error)")
        }
        var collected = Data()
        let reader = pipe.fileHandleForReading
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            collected.append(chunk)
            if echo { FileHandle.standardOutput.write(chunk) }
        }
        process.waitUntilExit()
        let status =
            process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return ProcessResult(status: status, output: String(decoding: collected, as: UTF8.self))
    }
}
