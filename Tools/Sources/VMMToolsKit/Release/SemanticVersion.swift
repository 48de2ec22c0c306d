// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A release version `MAJOR.MINOR.PATCH` (no pre-release or build parts: tags are `<Name>-vX.Y.Z`).
///
/// ```swift
/// let next = try SemanticVersion("0.1.3").bumped(.minor)  // 0.2.0
/// ```
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// Incompatible API changes (from 1.0.0 on).
    public var major: Int
    /// Compatible additions; in 0.x, incompatible changes.
    public var minor: Int
    /// Fixes; in 0.x, every compatible change.
    public var patch: Int

    /// The version a package gets on its first release.
    public static let firstRelease = SemanticVersion(major: 0, minor: 1, patch: 0)

    /// Creates a version from its parts.
    public init(major: Int, minor: Int, patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `X.Y.Z`: three decimal numbers of at most nine digits, no leading zeros.
    public init(_ text: some StringProtocol) throws(ReleaseError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw ReleaseError(.version, "'\(text)' is not X.Y.Z") }
        var numbers: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 9, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                part == "0" || !part.hasPrefix("0"), let number = Int(part)
            else { throw ReleaseError(.version, "'\(text)' is not X.Y.Z") }
            numbers.append(number)
        }
        self.init(major: numbers[0], minor: numbers[1], patch: numbers[2])
    }

    /// `X.Y.Z`.
    public var description: String { "\(major).\(minor).\(patch)" }

    /// Orders by major, then minor, then patch.
    public static func < (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    /// The next version for a change of size `bump`.
    public func bumped(_ bump: Bump) -> SemanticVersion {
        switch bump {
        case .major: return SemanticVersion(major: major + 1, minor: 0, patch: 0)
        case .minor: return SemanticVersion(major: major, minor: minor + 1, patch: 0)
        case .patch: return SemanticVersion(major: major, minor: minor, patch: patch + 1)
        }
    }

    /// Encodes as the string `X.Y.Z`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Decodes the string `X.Y.Z`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        try self.init(try container.decode(String.self))
    }
}

/// Which part of a version a release increments.
public enum Bump: String, Sendable, Comparable, Codable, CaseIterable {
    /// `X.Y.Z+1`.
    case patch
    /// `X.Y+1.0`.
    case minor
    /// `X+1.0.0`.
    case major

    /// `patch < minor < major`.
    public static func < (lhs: Bump, rhs: Bump) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// What kind of change a changelog describes, strongest first when compared.
public enum ChangeKind: Int, Sendable, Comparable, Codable {
    /// Only fixes (`### Fixed`, `### Security`).
    case fix = 0
    /// Compatible changes (`### Added`, `### Changed`, `### Deprecated`).
    case feature = 1
    /// Incompatible changes (`### Removed`, or any entry marked `**Breaking**`).
    case breaking = 2

    /// `fix < feature < breaking`.
    public static func < (lhs: ChangeKind, rhs: ChangeKind) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The bump this change needs from `version`. From 1.0.0: breaking → major, feature →
    /// minor, fix → patch. Before 1.0.0 the minor number plays the major's part (the Cargo
    /// and SwiftPM reading of 0.x): breaking → minor, anything else → patch.
    public func bump(from version: SemanticVersion) -> Bump {
        if version.major == 0 { return self == .breaking ? .minor : .patch }
        switch self {
        case .breaking: return .major
        case .feature: return .minor
        case .fix: return .patch
        }
    }
}
