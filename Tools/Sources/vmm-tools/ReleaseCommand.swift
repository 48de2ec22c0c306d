// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ArgumentParser
import Foundation
import VMMToolsKit

/// `vmm-tools release plan|prepare|publish|serve`: dependency-ordered releases to a Swift
/// package registry (release/README.md has the whole workflow).
struct Release: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plan, prepare and publish dependency-ordered releases to a Swift package registry.",
        discussion: """
            plan: what changed since each package's last <Name>-vX.Y.Z tag, every dependent that must \
            follow, in order, with the semver bump. prepare: write versions and changelog sections. \
            publish: tag, archive with registry dependencies, upload, verify; resumable. serve: a local \
            registry for trying it out.
            """,
        subcommands: [Plan.self, Prepare.self, Publish.self, Serve.self])

    /// Runs a release step, turning its typed error into one line on standard error.
    static func run<T>(_ label: String, _ body: () throws(ReleaseError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw fail("release \(label): \(error.description)")
        }
    }
}

extension Release {
    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plan", abstract: "List the packages to release, dependencies first, with their bumps.")

        @OptionGroup var options: WorkspaceOptions
        @Flag(help: "Print JSON.") var json = false
        @Flag(help: "Accepted for symmetry: plan never writes anything.") var dryRun = false

        func run() throws {
            let workspace = try options.workspace()
            let plan = try Release.run("plan") { () throws(ReleaseError) in
                try ReleasePlanner(workspace: workspace).plan()
            }
            FileHandle.standardOutput.write(Data((json ? plan.renderJSON() : plan.renderText()).utf8))
        }
    }

    struct Prepare: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prepare",
            abstract: "Write the planned versions, changelog sections and requirements (then commit them).")

        @OptionGroup var options: WorkspaceOptions
        @Flag(help: "Show what would be written; write nothing.") var dryRun = false
        @Option(help: "Release date for the changelog headings (YYYY-MM-DD; default today, UTC).") var date: String?

        func run() throws {
            let workspace = try options.workspace()
            let report = try Release.run("prepare") { () throws(ReleaseError) in
                try ReleasePreparer(workspace: workspace, dryRun: dryRun, date: date).prepare()
            }
            FileHandle.standardOutput.write(Data(report.plan.renderText().utf8))
            for line in report.lines { say(line) }
        }
    }

    struct Publish: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "publish",
            abstract: "Tag, archive, upload and verify each prepared package in dependency order (resumable).")

        @OptionGroup var options: WorkspaceOptions
        @Flag(help: "Show each step; tag, upload and record nothing.") var dryRun = false
        @Option(help: "Registry URL (default: registryURL in release/config.json).") var registry: String?
        @Option(help: "Keep verification builds here (default: a temporary folder).") var verifyPath: String?

        func run() throws {
            let workspace = try options.workspace()
            _ = try Release.run("publish") { () throws(ReleaseError) in
                var configuration = try ReleaseConfiguration.load(workspace)
                if let registry { configuration.registryURL = registry }
                let publishOptions = ReleasePublisher.Options(
                    dryRun: dryRun, verifyDirectory: verifyPath.map { URL(fileURLWithPath: $0) })
                return try ReleasePublisher(
                    workspace: workspace, configuration: configuration, options: publishOptions, log: { say($0) }
                ).publish()
            }
        }
    }

    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve", abstract: "Run a local Swift package registry on 127.0.0.1 (until interrupted).")

        @Option(help: "Port (0 picks a free one).") var port: UInt16 = 8080
        @Option(help: "Folder holding the registry's releases (default: vmm-release-registry in the temporary folder).")
        var storage: String?
        @Flag(help: "Print the address and exit without serving.") var dryRun = false

        func run() throws {
            let folder =
                storage.map { URL(fileURLWithPath: $0) }
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("vmm-release-registry")
            let server = try Release.run("serve") { () throws(ReleaseError) in
                let registry = try RegistryService(storage: folder)
                return try HTTPServer(port: port) { request in
                    let response = registry.handle(request)
                    say("\(request.method) \(request.path) -> \(response.status)")
                    return response
                }
            }
            say("registry: http://127.0.0.1:\(server.port) (releases in \(folder.path))")
            if dryRun {
                server.stop()
                return
            }
            server.start()
            while true { sleep(3600) }
        }
    }
}
