// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// Registry identities (`scope.Name`) as SE-0292 defines them.
public enum RegistryIdentity {
    /// True for a valid scope: ASCII letters, digits and single inner hyphens, at most 39 characters.
    public static func isValidScope(_ scope: String) -> Bool {
        isValid(scope, maxLength: 39, separators: ["-"])
    }

    /// True for a valid package name: letters, digits, single inner `-` or `_`, at most 100 characters.
    public static func isValidName(_ name: String) -> Bool {
        isValid(name, maxLength: 100, separators: ["-", "_"])
    }

    private static func isValid(_ text: String, maxLength: Int, separators: Set<Character>) -> Bool {
        let characters = Array(text)
        guard !characters.isEmpty, characters.count <= maxLength else { return false }
        for (index, character) in characters.enumerated() {
            if character.isASCII && (character.isLetter || character.isNumber) { continue }
            guard separators.contains(character), index > 0, index < characters.count - 1,
                !separators.contains(characters[index - 1])
            else { return false }
            let next = characters[index + 1]
            guard next.isASCII && (next.isLetter || next.isNumber) else { return false }
        }
        return true
    }
}

/// Rewrites a package manifest for publication, the way `cargo publish` rewrites path
/// dependencies: every `.package(path: "../X")` becomes `.package(id: "<scope>.X", exact: "<version>")`,
/// and every `package: "X"` argument of a `.product(...)` names the registry identity instead
/// (SwiftPM refers to a registry dependency by its identity).
///
/// The rewrite is textual and strict: a path dependency that is not a sibling package, a
/// dependency without a version, or a path dependency left over afterwards is an error,
/// never a silently broken archive.
///
/// ```swift
/// let published = try ManifestRewriter(scope: "swift-vmm", versions: ["VMMSysUtil": v])
///     .rewrite(manifestText, package: "VMMemory")
/// ```
public struct ManifestRewriter: Sendable {
    /// The registry scope of every sibling package.
    public var scope: String
    /// The exact version each sibling dependency is pinned to.
    public var versions: [String: SemanticVersion]

    /// Creates a rewriter for `scope`, pinning dependencies to `versions`.
    public init(scope: String, versions: [String: SemanticVersion]) {
        self.scope = scope
        self.versions = versions
    }

    /// The sibling package names a manifest depends on through `.package(path: "../X")`, in order.
    public static func pathDependencies(in manifest: String) throws(ReleaseError) -> [String] {
        try matches(in: manifest).map(\.name)
    }

    /// The manifest of `package` with its path dependencies replaced by registry identities.
    public func rewrite(_ manifest: String, package: String) throws(ReleaseError) -> String {
        guard RegistryIdentity.isValidScope(scope) else {
            throw ReleaseError(.configuration, "'\(scope)' is not a valid registry scope")
        }
        try Self.checkToolsVersion(manifest, package: package)
        var result = manifest
        var names: [String] = []
        // Replace from the end so earlier ranges stay valid.
        for match in try Self.matches(in: manifest).reversed() {
            guard let version = versions[match.name] else {
                throw ReleaseError(.manifest, "\(package): no released version of dependency \(match.name)")
            }
            guard RegistryIdentity.isValidName(match.name) else {
                throw ReleaseError(.manifest, "\(package): '\(match.name)' is not a valid registry package name")
            }
            result.replaceSubrange(match.range, with: ".package(id: \"\(scope).\(match.name)\", exact: \"\(version)\")")
            names.append(match.name)
        }
        for name in Set(names) {
            result = result.replacingOccurrences(
                of: #"package:\s*"\#(name)""#, with: "package: \"\(scope).\(name)\"", options: .regularExpression)
        }
        if result.contains(".package(path:")
            || result.range(of: #"\.package\(\s*name:[^)]*path:"#, options: .regularExpression) != nil
        {
            throw ReleaseError(.manifest, "\(package): a path dependency is left after rewriting")
        }
        return result
    }

    struct Match {
        var range: Range<String.Index>
        var name: String
    }

    static func matches(in manifest: String) throws(ReleaseError) -> [Match] {
        var found: [Match] = []
        var searchStart = manifest.startIndex
        let pattern = #"\.package\(\s*(name:\s*"[^"]*"\s*,\s*)?path:\s*"([^"]*)"\s*\)"#
        while let range = manifest.range(
            of: pattern, options: .regularExpression, range: searchStart..<manifest.endIndex)
        {
            let call = manifest[range]
            guard let pathStart = call.range(of: "path:") else { break }
            let afterLabel = call[pathStart.upperBound...]
            guard let open = afterLabel.firstIndex(of: "\""),
                let close = afterLabel[afterLabel.index(after: open)...].firstIndex(of: "\"")
            else { break }
            let path = String(afterLabel[afterLabel.index(after: open)..<close])
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == "..", !parts[1].isEmpty, parts[1] != "..", parts[1] != "." else {
                throw ReleaseError(
                    .manifest, "path dependency '\(path)' is not a sibling package (expected \"../<Name>\")")
            }
            found.append(Match(range: range, name: String(parts[1])))
            searchStart = range.upperBound
        }
        return found
    }

    /// Registry dependencies (`.package(id:exact:)`) need tools version 5.7 or later.
    static func checkToolsVersion(_ manifest: String, package: String) throws(ReleaseError) {
        guard let first = manifest.split(separator: "\n", maxSplits: 1).first,
            let marker = first.range(of: "swift-tools-version:")
        else { throw ReleaseError(.manifest, "\(package): Package.swift has no swift-tools-version line") }
        let version = first[marker.upperBound...].trimmingCharacters(in: .whitespaces)
        let numbers = version.split(separator: ".").compactMap { Int($0.prefix { $0.isNumber }) }
        guard let major = numbers.first else {
            throw ReleaseError(.manifest, "\(package): unreadable swift-tools-version '\(version)'")
        }
        let minor = numbers.count > 1 ? numbers[1] : 0
        guard (major, minor) >= (5, 7) else {
            throw ReleaseError(
                .manifest, "\(package): swift-tools-version \(version) predates registry dependencies (5.7)")
        }
    }
}
