// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// Checks that a published release resolves and builds from the registry alone: a scratch
/// consumer package depends on `<scope>.<Name>` at the exact version, imports every module
/// of its library products, and runs `swift package resolve` and `swift build` with its own
/// cache, configuration and security folders (so nothing cached from elsewhere, and no
/// machine-wide registry setting, can stand in for the registry).
///
/// One verifier reuses its scratch build folder across packages, so dependencies verified
/// earlier in a release are not compiled again.
///
/// ```swift
/// let verifier = ReleaseVerifier(directory: scratch, scope: "swift-vmm", registryURL: url)
/// try verifier.verify(archive, version: SemanticVersion("0.1.1"))
/// ```
public struct ReleaseVerifier: Sendable {
    /// Where the consumer, its build, cache, configuration and security folders live.
    public let directory: URL
    /// The registry scope.
    public let scope: String
    /// The registry URL.
    public let registryURL: String
    /// Extra environment for the `swift` processes.
    public let environment: [String: String]

    /// Creates a verifier working in `directory`.
    public init(directory: URL, scope: String, registryURL: String, environment: [String: String] = [:]) {
        self.directory = directory
        self.scope = scope
        self.registryURL = registryURL
        self.environment = environment
    }

    /// The `registries.json` that maps `scope` to `registryURL`.
    public static func registriesJSON(scope: String, url: String) -> String {
        """
        {
          "version": 1,
          "registries": {
            "\(scope)": { "url": "\(url)", "supportsAvailability": false }
          },
          "authentication": {}
        }

        """
    }

    /// The manifest of a consumer that depends on `identity` at `version` and uses `products`.
    public static func consumerManifest(identity: String, version: SemanticVersion, products: [String]) -> String {
        let uses = products.map { ".product(name: \"\($0)\", package: \"\(identity)\")" }.joined(separator: ", ")
        return """
            // swift-tools-version: 6.1
            import PackageDescription

            let package = Package(
                name: "ReleaseCheck",
                dependencies: [.package(id: "\(identity)", exact: "\(version)")],
                targets: [.target(name: "ReleaseCheck", dependencies: [\(uses)])]
            )

            """
    }

    /// Resolves and builds a consumer of `archive.package` at `version` from the registry.
    @discardableResult
    public func verify(_ archive: StagedArchive, version: SemanticVersion) throws(ReleaseError) -> String {
        let identity = "\(scope).\(archive.package)"
        guard !archive.libraries.isEmpty else {
            throw ReleaseError(.verification, "\(archive.package) vends no library product to build against")
        }
        let consumer = directory.appendingPathComponent("consumer")
        let modules = Array(Set(archive.libraries.flatMap(\.modules))).sorted()
        do {
            let manager = FileManager.default
            try? manager.removeItem(at: consumer.appendingPathComponent("Package.resolved"))
            try manager.createDirectory(
                at: consumer.appendingPathComponent("Sources/ReleaseCheck"), withIntermediateDirectories: true)
            try manager.createDirectory(
                at: consumer.appendingPathComponent(".swiftpm/configuration"), withIntermediateDirectories: true)
            for folder in ["config", "cache", "security", "tmp"] {
                try manager.createDirectory(
                    at: directory.appendingPathComponent(folder), withIntermediateDirectories: true)
            }
            try Self.registriesJSON(scope: scope, url: registryURL).write(
                to: consumer.appendingPathComponent(".swiftpm/configuration/registries.json"), atomically: true,
                encoding: .utf8)
            try Self.consumerManifest(identity: identity, version: version, products: archive.libraries.map(\.product))
                .write(to: consumer.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
            let source =
                modules.map { "import \($0)\n" }.joined()
                + "\n/// Proves the release's modules import.\npublic let releaseCheck = true\n"
            try source.write(
                to: consumer.appendingPathComponent("Sources/ReleaseCheck/ReleaseCheck.swift"), atomically: true,
                encoding: .utf8)
        } catch {
            throw ReleaseError(.io, "cannot write the consumer package: \(error)")
        }
        let options = [
            "--package-path", consumer.path, "--scratch-path", directory.appendingPathComponent("build").path,
            "--cache-path", directory.appendingPathComponent("cache").path,
            "--config-path", directory.appendingPathComponent("config").path,
            "--security-path", directory.appendingPathComponent("security").path,
        ]
        for (label, command) in [
            ("swift package resolve", ["swift", "package"] + options + ["resolve"]),
            ("swift build", ["swift", "build"] + options),
        ] {
            let result: ProcessResult
            do {
                // TMPDIR keeps SwiftPM's lock files inside the verification folder.
                result = try ProcessRunner.run(
                    command,
                    environment: ["TMPDIR": directory.appendingPathComponent("tmp").path].merging(environment) { $1 })
            } catch {
                throw ReleaseError(.verification, "\(error)")
            }
            guard result.succeeded else {
                let tail = result.output.split(separator: "\n").suffix(8).joined(separator: "\n")
                throw ReleaseError(
                    .verification,
                    "\(identity) \(version): `\(label)` of a consumer failed:\n\(tail)")
            }
        }
        return "\(identity) \(version) resolves and builds from \(registryURL) (\(modules.joined(separator: ", ")))"
    }
}
