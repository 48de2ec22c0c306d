// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// The parts of a package manifest the tools compare and order by, read from
/// `swift package dump-package` (SwiftPM evaluates the manifest; we never parse Swift).
public struct PackageManifest: Sendable, Equatable {
    /// One target as declared in a manifest.
    public struct TargetDescription: Sendable, Equatable {
        /// Target name.
        public var name: String
        /// `regular`, `test`, `executable`, `system`, ...
        public var type: String
        /// The declared `path:`, or nil for the default.
        public var path: String?
        /// Dependencies: target names, or `product:<name>@<package>` for products.
        public var dependencies: [String]
        /// Settings, exclusions and source lists as canonical JSON, for exact comparison.
        public var settingsFingerprint: String
    }

    /// A product the package vends.
    public struct ProductDescription: Sendable, Equatable {
        /// Product name.
        public var name: String
        /// The targets it is built from.
        public var targets: [String]
    }

    /// Package name.
    public var name: String
    /// Targets in declaration order.
    public var targets: [TargetDescription]
    /// Products in declaration order.
    public var products: [ProductDescription]
    /// Paths of `.package(path:)` dependencies, as absolute paths.
    public var pathDependencies: [String]
    /// URLs of source-control dependencies.
    public var remoteDependencies: [String]

    /// Evaluates the manifest in `directory` with `swift package dump-package`.
    public static func load(from directory: URL) throws -> PackageManifest {
        let result = try ProcessRunner.run(["swift", "package", "dump-package", "--package-path", directory.path])
        guard result.succeeded, let start = result.output.firstIndex(of: "{") else {
            throw WorkspaceError(
                "\(directory.path)/Package.swift does not evaluate: "
                    + result.output.split(separator: "\n").prefix(3).joined(separator: " | "))
        }
        return try parse(json: Data(result.output[start...].utf8))
    }

    /// Decodes the JSON that `swift package dump-package` prints.
    public static func parse(json: Data) throws -> PackageManifest {
        guard let root = try JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw WorkspaceError("dump-package output is not a JSON object")
        }
        let targets = (root["targets"] as? [[String: Any]] ?? []).map { target -> TargetDescription in
            let dependencies = (target["dependencies"] as? [[String: Any]] ?? []).compactMap(dependencyName)
            var fingerprint: [String: Any] = [:]
            for key in ["settings", "exclude", "sources", "resources", "pkgConfig", "providers"] {
                if let value = target[key], !(value is NSNull) { fingerprint[key] = value }
            }
            let data = (try? JSONSerialization.data(withJSONObject: fingerprint, options: [.sortedKeys])) ?? Data()
            return TargetDescription(
                name: target["name"] as? String ?? "?", type: target["type"] as? String ?? "?",
                path: target["path"] as? String, dependencies: dependencies,
                settingsFingerprint: String(decoding: data, as: UTF8.self))
        }
        let products = (root["products"] as? [[String: Any]] ?? []).map {
            ProductDescription(name: $0["name"] as? String ?? "?", targets: $0["targets"] as? [String] ?? [])
        }
        var paths: [String] = []
        var remotes: [String] = []
        for dependency in root["dependencies"] as? [[String: Any]] ?? [] {
            if let fileSystem = (dependency["fileSystem"] as? [[String: Any]])?.first,
                let path = fileSystem["path"] as? String
            {
                paths.append(path)
            } else if let remote = (dependency["sourceControl"] as? [[String: Any]])?.first,
                let location = remote["location"] as? [String: Any],
                let url = ((location["remote"] as? [[String: Any]])?.first?["urlString"] as? String)
                    ?? (location["remote"] as? [String])?.first
            {
                remotes.append(url)
            }
        }
        return PackageManifest(
            name: root["name"] as? String ?? "?", targets: targets, products: products, pathDependencies: paths,
            remoteDependencies: remotes)
    }

    private static func dependencyName(_ dependency: [String: Any]) -> String? {
        if let byName = dependency["byName"] as? [Any], let name = byName.first as? String { return name }
        if let target = dependency["target"] as? [Any], let name = target.first as? String { return name }
        if let product = dependency["product"] as? [Any], let name = product.first as? String {
            let package = product.count > 1 ? (product[1] as? String ?? "") : ""
            return "product:\(name)@\(package)"
        }
        return nil
    }
}
