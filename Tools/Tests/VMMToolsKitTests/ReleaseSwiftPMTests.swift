// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

/// A local registry (`RegistryService` on an `HTTPServer`) for a test, stopped on deinit.
final class LocalRegistry: Sendable {
    let scratch: ReleaseScratch
    let service: RegistryService
    let server: HTTPServer
    var url: String { "http://127.0.0.1:\(server.port)" }

    init() throws {
        scratch = try ReleaseScratch("local-registry")
        service = try RegistryService(storage: scratch.path("storage"))
        server = try HTTPServer(port: 0, handler: service.handle)
        server.start()
    }

    deinit { server.stop() }
}

/// A package outside any repository that depends on a registry package, built with plain
/// `swift package resolve` and `swift build` and a local `.swiftpm/configuration/registries.json`.
/// HOME and TMPDIR point into the scratch folder (SwiftPM's download cache and lock files
/// follow them); SwiftPM keeps archive fingerprints in the account's ~/.swiftpm/security
/// whatever HOME says, so tests use a fresh scope each run and remove its fingerprints after.
struct RegistryConsumer {
    let folder: URL
    let home: URL
    let temporary: URL

    /// A scope no earlier run used (fingerprints are kept per identity and version).
    static func uniqueScope() -> String { "t" + UUID().uuidString.prefix(8).lowercased() }

    /// Removes the fingerprints SwiftPM recorded for `scope`'s packages in ~/.swiftpm/security.
    static func removeFingerprints(scope: String) {
        let folder = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(
            ".swiftpm/security/fingerprints")
        for file in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        where file.hasPrefix(scope + ".") {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(file))
        }
    }

    init(
        in scratch: ReleaseScratch, registry: String, scope: String, dependency: String, requirement: String,
        products: [String], source: String
    ) throws {
        folder = scratch.path("consumer")
        home = scratch.path("home")
        temporary = scratch.path("tmp")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        let uses = products.map { ".product(name: \"\($0)\", package: \"\(scope).\(dependency)\")" }.joined(
            separator: ", ")
        try scratch.write(
            "consumer/Package.swift",
            """
            // swift-tools-version: 6.1
            import PackageDescription

            let package = Package(
                name: "Consumer",
                dependencies: [.package(id: "\(scope).\(dependency)", \(requirement))],
                targets: [.executableTarget(name: "Consumer", dependencies: [\(uses)])]
            )

            """)
        try scratch.write("consumer/Sources/Consumer/main.swift", source)
        try scratch.write(
            "consumer/.swiftpm/configuration/registries.json",
            ReleaseVerifier.registriesJSON(scope: scope, url: registry))
    }

    func run(_ arguments: [String]) throws -> ProcessResult {
        try ProcessRunner.run(arguments, in: folder, environment: ["HOME": home.path, "TMPDIR": temporary.path])
    }

    /// Identity and version of each pin in Package.resolved.
    func pins() throws -> [String: String] {
        let data = try Data(contentsOf: folder.appendingPathComponent("Package.resolved"))
        guard case .array(let pins)? = try JSONValue.parse(Array(data))["pins"] else { return [:] }
        var result: [String: String] = [:]
        for pin in pins {
            if let identity = pin["identity"]?.stringValue, let version = pin["state"]?["version"]?.stringValue {
                result[identity] = version
            }
        }
        return result
    }
}

@Suite struct ReleaseSwiftPMTests {
    /// Two small packages, prepared and published through the local registry, then used by
    /// SwiftPM itself: the registry wire format is judged by the real client.
    @Test func swiftPMResolvesAndBuildsPublishedPackages() throws {
        let registry = try LocalRegistry()
        let scope = RegistryConsumer.uniqueScope()
        defer { RegistryConsumer.removeFingerprints(scope: scope) }
        let repository = try ReleaseRepository(
            packages: ["A": [], "B": ["A"]], registryURL: registry.url, scope: scope)
        try repository.commitAll("configure")
        _ = try ReleasePreparer(workspace: repository.workspace, date: "2026-05-01").prepare()
        try repository.commitAll("prepare")
        let scratch = try ReleaseScratch("swiftpm")
        let report = try ReleasePublisher(
            workspace: repository.workspace, configuration: try ReleaseConfiguration.load(repository.workspace),
            options: .init(verifyDirectory: scratch.path("verify"), environment: ["HOME": scratch.path("home").path])
        ).publish()
        #expect(report.uploaded == ["A", "B"])
        #expect(report.verified == ["A", "B"])
        #expect(registry.service.publishAttempts.map(\.status) == [201, 201])

        let tagMessage = try repository.git("tag", "-l", "--format=%(contents)", "B-v0.1.0")
        #expect(tagMessage.hasPrefix("B 0.1.0\n\n### Added\n- Everything."))
        let manifest = registry.service.release(scope: scope, name: "B", version: "0.1.0")?.manifests["Package.swift"]
        #expect(manifest?.contains(".package(id: \"\(scope).A\", exact: \"0.1.0\")") == true)

        let consumer = try RegistryConsumer(
            in: scratch, registry: registry.url, scope: scope, dependency: "B", requirement: "from: \"0.1.0\"",
            products: ["B"], source: "import B\n\nprint(\"B says \\(valueB())\")\n")
        let resolved = try consumer.run(["swift", "package", "resolve"])
        #expect(resolved.succeeded, "\(resolved.output)")
        let pins = try consumer.pins()
        #expect(pins == ["\(scope).A": "0.1.0", "\(scope).B": "0.1.0"], "\(pins)")
        let built = try consumer.run(["swift", "run", "Consumer"])
        #expect(built.succeeded, "\(built.output)")
        #expect(built.output.contains("B says 1"))
        // Everything SwiftPM fetched came from the registry's endpoints.
        let requests = Set(registry.service.requests)
        #expect(requests.contains { $0.lowercased() == "get /\(scope)/b/0.1.0.zip" }, "\(requests.sorted())")
    }

    /// The publish endpoint accepts what SwiftPM's own `swift package-registry publish` sends
    /// (its archive is made by `swift package archive-source`, deflated).
    @Test func acceptsSwiftPackageRegistryPublish() throws {
        let registry = try LocalRegistry()
        let scratch = try ReleaseScratch("spm-publish")
        try scratch.write(
            "Tiny/Package.swift",
            "// swift-tools-version: 6.1\nimport PackageDescription\n\nlet package = Package(name: \"Tiny\", targets: [.target(name: \"Tiny\")])\n"
        )
        try scratch.write("Tiny/Sources/Tiny/Tiny.swift", "public let tiny = 1\n")
        try FileManager.default.createDirectory(at: scratch.path("home"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: scratch.path("tmp"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: scratch.path("work"), withIntermediateDirectories: true)
        let result = try ProcessRunner.run(
            [
                "swift", "package-registry", "publish", "acme.Tiny", "1.2.3", "--url", registry.url,
                "--allow-insecure-http",
                "--scratch-directory", scratch.path("work").path,
            ], in: scratch.path("Tiny"),
            environment: ["HOME": scratch.path("home").path, "TMPDIR": scratch.path("tmp").path])
        #expect(result.succeeded, "\(result.output)")
        let release = try #require(registry.service.release(scope: "acme", name: "Tiny", version: "1.2.3"))
        #expect(release.manifests["Package.swift"]?.contains("name: \"Tiny\"") == true)
        #expect(registry.service.publishAttempts.map(\.status) == [201])
    }
}
