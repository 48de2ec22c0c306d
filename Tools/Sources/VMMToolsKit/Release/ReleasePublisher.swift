// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// `release publish`: releases every prepared package not yet verified on the configured
/// registry, dependencies first. For each package, in order:
///
/// 1. tag: the annotated tag `<Name>-vX.Y.Z` on HEAD, its message the changelog section
///    (kept if it already exists);
/// 2. archive: the package at that tag, path dependencies rewritten to `<scope>.<X>` at the
///    exact versions in release/versions.json (`ReleaseArchiver`);
/// 3. publish: unless the registry already has this version — with the same checksum it is
///    not uploaded again, with another it is an error, since releases are immutable;
/// 4. verify: a scratch consumer resolves and builds it from the registry (`ReleaseVerifier`).
///
/// Each completed step is appended to release/record.jsonl. A run that fails midway can be
/// re-run: finished packages are skipped by the record, and a package whose upload went
/// through before the failure is recognised by the registry's checksum, so nothing is ever
/// published twice.
///
/// ```swift
/// let report = try ReleasePublisher(workspace: workspace, configuration: configuration).publish()
/// ```
public struct ReleasePublisher: Sendable {
    /// How to run.
    public struct Options: Sendable {
        /// Report what would happen; tag, upload and record nothing, and contact no registry.
        public var dryRun: Bool
        /// Where verification builds live; nil uses a fresh temporary folder, removed afterwards.
        public var verifyDirectory: URL?
        /// Extra environment for the verification `swift` processes.
        public var environment: [String: String]
        /// Fault injection for tests: fail right after these packages' uploads succeed,
        /// before anything else is recorded (as a crash or lost connection would).
        public var failAfterUpload: Set<String>

        /// Creates options.
        public init(
            dryRun: Bool = false, verifyDirectory: URL? = nil, environment: [String: String] = [:],
            failAfterUpload: Set<String> = []
        ) {
            self.dryRun = dryRun
            self.verifyDirectory = verifyDirectory
            self.environment = environment
            self.failAfterUpload = failAfterUpload
        }
    }

    /// What a run did.
    public struct Report: Sendable {
        /// One line per step.
        public var lines: [String]
        /// Packages uploaded by this run.
        public var uploaded: [String]
        /// Packages this run found already uploaded and did not upload again.
        public var alreadyPublished: [String]
        /// Packages verified by this run.
        public var verified: [String]
    }

    /// The workspace.
    public let workspace: Workspace
    /// Scope and registry.
    public let configuration: ReleaseConfiguration
    /// How to run.
    public let options: Options
    /// Receives each report line as it happens.
    public let log: @Sendable (String) -> Void

    /// Creates a publisher.
    public init(
        workspace: Workspace, configuration: ReleaseConfiguration, options: Options = Options(),
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.workspace = workspace
        self.configuration = configuration
        self.options = options
        self.log = log
    }

    /// Publishes, in dependency order, every package whose current version is not yet
    /// verified on the registry.
    public func publish() throws(ReleaseError) -> Report {
        try configuration.validate()
        var report = Report(lines: [], uploaded: [], alreadyPublished: [], verified: [])
        func say(_ line: String) {
            report.lines.append(line)
            log(line)
        }
        let git = ReleaseGit(root: workspace.root)
        let dirty = try git.dirtyPaths(ignoring: [ReleaseRecord.relativePath])
        if !dirty.isEmpty {
            let message =
                "the work tree has uncommitted changes (\(dirty.prefix(5).joined(separator: ", "))); commit the prepared release first"
            guard options.dryRun else { throw ReleaseError(.dirtyTree, message) }
            say("note: \(message)")
        }
        let registry = configuration.baseURL
        let versions = try ReleaseVersions.load(workspace)
        var record = try ReleaseRecord.load(workspace)
        let graph = try ReleasePlanner(workspace: workspace).dependencyGraph()
        let order: [String]
        do {
            order = try graph.topologicalOrder()
        } catch {
            throw ReleaseError(.state, error.description)
        }
        let todo = order.filter { name in
            guard let entry = versions.packages[name] else { return false }
            return !record.has(.verified, name, entry.version, registry: registry)
        }
        guard !todo.isEmpty else {
            say("nothing to publish: every prepared version is verified on \(registry)")
            return report
        }
        try checkRequirements(todo, versions: versions, record: record, graph: graph, registry: registry)
        say("publishing \(todo.count) packages to \(registry) in order: \(todo.joined(separator: ", "))")

        let client = RegistryClient(baseURL: registry)
        let archiver = ReleaseArchiver(workspace: workspace, scope: configuration.scope)
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent(
            "vmm-release-verify-\(UUID().uuidString)")
        let verifier = ReleaseVerifier(
            directory: options.verifyDirectory ?? temporary, scope: configuration.scope, registryURL: registry,
            environment: options.environment)
        defer { if options.verifyDirectory == nil { try? FileManager.default.removeItem(at: temporary) } }

        for name in todo {
            let entry = versions.packages[name]!
            let version = entry.version
            let identity = "\(configuration.scope).\(name)"
            let tag = "\(name)-v\(version)"

            // 1. Tag.
            if git.tagExists(tag) {
                say("\(name) \(version): tag \(tag) exists")
            } else if options.dryRun {
                say("\(name) \(version): would create tag \(tag) on HEAD")
            } else {
                let message = try tagMessage(name, version)
                try git.createTag(tag, message: message)
                let commit = try git.commit(tag)
                try record.append(
                    .init(.tagged, package: name, version: version, detail: "\(tag) at \(commit)"), in: workspace)
                say("\(name) \(version): tagged \(tag) at \(commit.prefix(12))")
            }

            // 2. Archive.
            let revision = git.tagExists(tag) ? tag : "HEAD"
            let archive = try archiver.stage(name, at: revision, requires: entry.requires)
            let pins = entry.requires.sorted { $0.key < $1.key }.map { "\(configuration.scope).\($0.key) \($0.value)" }
            say(
                "\(name) \(version): archive \(archive.bytes.count) bytes, sha256 \(archive.checksum.prefix(16))…"
                    + (pins.isEmpty ? "" : ", requires \(pins.joined(separator: ", "))"))

            // 3. Publish.
            if options.dryRun {
                say(
                    "\(name) \(version): would publish \(identity) \(version) to \(registry), then verify it resolves and builds"
                )
                continue
            }
            switch try client.checksum(scope: configuration.scope, name: name, version: version.description) {
            case archive.checksum?:
                report.alreadyPublished.append(name)
                say("\(name) \(version): already in the registry with this checksum; not uploaded again")
            case let other?:
                throw ReleaseError(
                    .registry,
                    "\(identity) \(version) is already in the registry with checksum \(other), not \(archive.checksum); releases are immutable, prepare a new version"
                )
            case nil:
                try client.publish(
                    scope: configuration.scope, name: name, version: version.description, archive: archive.bytes,
                    metadata: metadata(for: name))
                report.uploaded.append(name)
                say("\(name) \(version): published \(identity) \(version)")
                if options.failAfterUpload.contains(name) {
                    throw ReleaseError(.state, "stopped after uploading \(identity) \(version) (injected failure)")
                }
            }
            if !record.has(.published, name, version, registry: registry) {
                try record.append(
                    .init(.published, package: name, version: version, registry: registry, checksum: archive.checksum),
                    in: workspace)
            }

            // 4. Verify.
            let summary = try verifier.verify(archive, version: version)
            try record.append(.init(.verified, package: name, version: version, registry: registry), in: workspace)
            report.verified.append(name)
            say("\(name) \(version): verified: \(summary)")
        }
        say(
            options.dryRun
                ? "dry run: nothing tagged, uploaded or recorded"
                : "published \(report.uploaded.count), already there \(report.alreadyPublished.count), verified \(report.verified.count); push the tags with `git push --tags` and commit \(ReleaseRecord.relativePath)"
        )
        return report
    }

    /// Every package's recorded requirements match its manifest and point at versions that
    /// are published already or come earlier in this run.
    func checkRequirements(
        _ todo: [String], versions: ReleaseVersions, record: ReleaseRecord, graph: DependencyGraph, registry: String
    ) throws(ReleaseError) {
        for name in todo {
            let entry = versions.packages[name]!
            let dependencies = graph.dependencies[name] ?? []
            guard Set(entry.requires.keys) == dependencies else {
                throw ReleaseError(
                    .state,
                    "\(name): \(ReleaseVersions.relativePath) requires [\(entry.requires.keys.sorted().joined(separator: ", "))] but Package.swift depends on [\(dependencies.sorted().joined(separator: ", "))]; run `vmm-tools release prepare`"
                )
            }
            for (dependency, version) in entry.requires {
                let inThisRun = todo.contains(dependency) && versions.packages[dependency]?.version == version
                guard inThisRun || record.has(.verified, dependency, version, registry: registry) else {
                    throw ReleaseError(
                        .state,
                        "\(name) requires \(dependency) \(version), which is neither published nor being published")
                }
            }
        }
    }

    func tagMessage(_ name: String, _ version: SemanticVersion) throws(ReleaseError) -> String {
        let path = "Packages/\(name)/CHANGELOG.md"
        let text: String
        do {
            text = try String(contentsOf: workspace.root.appendingPathComponent(path), encoding: .utf8)
        } catch {
            throw ReleaseError(.io, "cannot read \(path): \(error)")
        }
        guard let section = try Changelog(text).section(for: version), !section.isEmpty else {
            throw ReleaseError(.changelog, "\(path) has no '## v\(version)' section; run `vmm-tools release prepare`")
        }
        return "\(name) \(version)\n\n\(section)\n"
    }

    /// Release metadata: the README's first paragraph as the description, and the repository.
    func metadata(for name: String) -> JSONValue {
        var object: [String: JSONValue] = [:]
        let readme = workspace.packageDirectory(name).appendingPathComponent("README.md")
        if let text = try? String(contentsOf: readme, encoding: .utf8) {
            let paragraph = text.components(separatedBy: "\n\n").map {
                $0.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            .first { !$0.isEmpty && !$0.hasPrefix("#") && !$0.hasPrefix("```") && !$0.hasPrefix("|") }
            if let paragraph {
                object["description"] = .string(String(paragraph.replacingOccurrences(of: "\n", with: " ").prefix(500)))
            }
        }
        if let repository = configuration.repositoryURL { object["repositoryURLs"] = .array([.string(repository)]) }
        return .object(object)
    }
}
