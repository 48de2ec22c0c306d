// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// Why a release step refused or failed: one kind a caller can match on, and one line for people.
///
/// ```swift
/// do {
///     try ReleasePreparer(workspace: workspace).prepare()
/// } catch let error where error.kind == .dirtyTree {
///     print("commit first: \(error)")
/// }
/// ```
public struct ReleaseError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The families of release failures.
    public enum Kind: String, Sendable, Equatable {
        /// A CHANGELOG.md is missing, too large or malformed.
        case changelog
        /// A version string or tag is not `X.Y.Z`.
        case version
        /// A package manifest cannot be rewritten for the registry.
        case manifest
        /// A source archive cannot be built or read.
        case archive
        /// A git command failed.
        case git
        /// The git working tree has uncommitted changes.
        case dirtyTree
        /// A package with code changes has nothing under `## Upcoming`.
        case emptyUpcoming
        /// release/config.json or release/versions.json is missing or malformed.
        case configuration
        /// The registry refused a request or answered something unexpected.
        case registry
        /// A published package did not resolve or build from the registry.
        case verification
        /// The release state is inconsistent (prepared but unpublished, a cycle, a version conflict).
        case state
        /// Reading or writing a local file failed.
        case io
    }

    /// What went wrong, for matching.
    public var kind: Kind
    /// One line for people.
    public var description: String

    /// Creates an error of `kind` explained by `description`.
    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
