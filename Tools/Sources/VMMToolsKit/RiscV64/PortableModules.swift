// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// A Swift module of a portable package, ready to compile on its own.
public struct PortableModule: Sendable, Equatable {
    /// Module (target) name.
    public var name: String
    /// Package that declares it.
    public var package: String
    /// Its source folder.
    public var directory: URL
    /// Modules it imports, by name (all portable).
    public var dependencies: [String]
    /// True for a `<Package>PortableTests` module (test cases, not library code).
    public var isTestCases: Bool

    /// The module's Swift sources, sorted.
    public func sources() -> [URL] {
        guard let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else {
            return []
        }
        return enumerator.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
            .sorted { $0.path < $1.path }
    }
}

/// Finds the portable packages of a workspace: those with a `<Package>PortableTests`
/// target. Their portable modules are that target and everything it depends on.
public enum PortableModules {
    /// Suffix that marks a package's portable test-case target.
    public static let testCasesSuffix = "PortableTests"

    /// Every portable module, dependencies first.
    public static func discover(in workspace: Workspace) throws -> [PortableModule] {
        var manifests: [String: PackageManifest] = [:]
        for name in workspace.packageNames() {
            manifests[name] = try PackageManifest.load(from: workspace.packageDirectory(name))
        }
        // Every target of every package, and every product's targets, by name.
        var owner: [String: (package: String, target: PackageManifest.TargetDescription)] = [:]
        var products: [String: [String]] = [:]
        for (package, manifest) in manifests {
            for target in manifest.targets { owner[target.name] = (package, target) }
            for product in manifest.products { products["\(product.name)@\(package.lowercased())"] = product.targets }
        }
        func dependencyTargets(_ target: PackageManifest.TargetDescription) -> [String] {
            target.dependencies.flatMap { dependency -> [String] in
                guard dependency.hasPrefix("product:") else { return [dependency] }
                let body = dependency.dropFirst("product:".count).split(separator: "@").map(String.init)
                let key = "\(body[0])@\((body.count > 1 ? body[1] : "").lowercased())"
                return products[key] ?? [body[0]]
            }
        }
        var modules: [String: PortableModule] = [:]
        var pending = manifests.values.flatMap { manifest in
            manifest.targets.filter { $0.name.hasSuffix(testCasesSuffix) && $0.type == "regular" }.map(\.name)
        }
        while let name = pending.popLast() {
            if modules[name] != nil { continue }
            guard let (package, target) = owner[name] else {
                throw WorkspaceError("portable module \(name) is not a target of any package")
            }
            let folder = target.path ?? (target.type == "test" ? "Tests/\(name)" : "Sources/\(name)")
            let dependencies = dependencyTargets(target)
            modules[name] = PortableModule(
                name: name, package: package,
                directory: workspace.packageDirectory(package).appendingPathComponent(folder),
                dependencies: dependencies, isTestCases: name.hasSuffix(testCasesSuffix))
            pending += dependencies
        }
        let graph = DependencyGraph(modules.mapValues { Set($0.dependencies) })
        do {
            return try graph.topologicalOrder().compactMap { modules[$0] }
        } catch {
            throw WorkspaceError("portable modules: \(error)")
        }
    }
}
