// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// A package's CHANGELOG.md as the release tools read and rewrite it:
///
/// ```text
/// # Changelog
///
/// ## Upcoming
///
/// ### Added
/// - `Thing`: what it does.
///
/// ### Changed
/// - **Breaking** `Other.run()` now throws `OtherError`.
///
/// ## v0.1.0 — 2026-05-01
/// ...
/// ```
///
/// An entry is a line starting `- ` or `* ` (indented lines continue it). The kind of change
/// decides the version bump: any entry under `### Removed`, or any entry whose text starts
/// with `**Breaking**` (also `**Breaking:**`), is breaking; entries under `### Added`,
/// `### Changed` and `### Deprecated` are features; `### Fixed` and `### Security` are fixes.
///
/// ```swift
/// let changelog = try Changelog(text)
/// let kind = changelog.upcomingKind            // .feature
/// let released = try changelog.releasing(SemanticVersion("0.2.0"), date: "2026-05-01")
/// ```
public struct Changelog: Sendable, Equatable {
    /// One bullet under `## Upcoming`.
    public struct Entry: Sendable, Equatable {
        /// The `### ` subsection it sits in (`Added`, `Fixed`, ...).
        public var section: String
        /// The entry text without the bullet, continuation lines joined by newlines.
        public var text: String
        /// True when the entry is marked `**Breaking**` or sits under `### Removed`.
        public var isBreaking: Bool
    }

    /// The largest CHANGELOG.md accepted (a bound on untrusted input).
    public static let maxBytes = 1 << 20

    /// Subsections a changelog may use (the same list `vmm-tools lint` enforces).
    public static let sections: Set<String> = ["Added", "Changed", "Fixed", "Removed", "Deprecated", "Security"]

    /// The full text.
    public private(set) var text: String
    /// Line index of `## Upcoming`.
    let upcomingLine: Int
    /// Line index just past the Upcoming section (the next `## ` heading or the end).
    let upcomingEnd: Int
    /// Entries under `## Upcoming`, in order.
    public private(set) var upcoming: [Entry]

    /// Parses `text`; fails when it is too large, has no `## Upcoming`, uses an unknown
    /// subsection inside Upcoming, or has text there outside any subsection.
    public init(_ text: String) throws(ReleaseError) {
        guard text.utf8.count <= Self.maxBytes else {
            throw ReleaseError(.changelog, "CHANGELOG.md is larger than \(Self.maxBytes) bytes")
        }
        self.text = text
        let lines = Self.lines(text)
        guard let start = lines.firstIndex(where: { Self.heading($0, level: 2) == "Upcoming" }) else {
            throw ReleaseError(.changelog, "CHANGELOG.md has no '## Upcoming' section")
        }
        var end = lines.count
        for index in (start + 1)..<lines.count where Self.heading(lines[index], level: 2) != nil {
            end = index
            break
        }
        upcomingLine = start
        upcomingEnd = end
        upcoming = []
        var section: String?
        for index in (start + 1)..<end {
            let line = lines[index]
            if let title = Self.heading(line, level: 3) {
                guard Self.sections.contains(title) else {
                    throw ReleaseError(
                        .changelog, "line \(index + 1): unknown subsection '### \(title)' under '## Upcoming'")
                }
                section = title
                continue
            }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            guard let current = section else {
                throw ReleaseError(
                    .changelog, "line \(index + 1): text under '## Upcoming' before any '### ' subsection")
            }
            if line.hasPrefix("- ") || line.hasPrefix("* ") {
                let body = String(line.dropFirst(2)).trimmingCharacters(in: .whitespaces)
                upcoming.append(
                    Entry(section: current, text: body, isBreaking: current == "Removed" || Self.marksBreaking(body)))
            } else if var last = upcoming.popLast(), last.section == current {
                // An indented or wrapped line continues the entry above it.
                last.text += "\n" + line.trimmingCharacters(in: .whitespaces)
                upcoming.append(last)
            } else {
                // Prose directly under a subsection still describes a change of that kind.
                let body = line.trimmingCharacters(in: .whitespaces)
                upcoming.append(
                    Entry(section: current, text: body, isBreaking: current == "Removed" || Self.marksBreaking(body)))
            }
        }
    }

    /// True when `## Upcoming` lists nothing.
    public var isUpcomingEmpty: Bool { upcoming.isEmpty }

    /// The strongest change under `## Upcoming`, or nil when it is empty.
    public var upcomingKind: ChangeKind? {
        upcoming.map { entry -> ChangeKind in
            if entry.isBreaking { return .breaking }
            return ["Fixed", "Security"].contains(entry.section) ? .fix : .feature
        }.max()
    }

    /// The body of `## Upcoming` (its subsections and entries), trimmed.
    public var upcomingBody: String {
        Self.lines(text)[(upcomingLine + 1)..<upcomingEnd].joined(separator: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The body of the `## vX.Y.Z` section for `version`, trimmed, or nil when there is none.
    public func section(for version: SemanticVersion) -> String? {
        let lines = Self.lines(text)
        guard
            let start = lines.firstIndex(where: {
                Self.heading($0, level: 2).map { Self.releaseVersion(ofHeading: $0) == version } ?? false
            })
        else { return nil }
        var end = lines.count
        for index in (start + 1)..<lines.count where Self.heading(lines[index], level: 2) != nil {
            end = index
            break
        }
        return lines[(start + 1)..<end].joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The changelog after releasing `version` on `date` (`YYYY-MM-DD`): the Upcoming
    /// entries move under a new `## vX.Y.Z — date` heading and `## Upcoming` is left empty.
    /// When Upcoming is empty, `fallback` (e.g. "### Changed\n- Requires VMMSysUtil 0.1.1.")
    /// becomes the section's body.
    public func releasing(
        _ version: SemanticVersion, date: String, fallback: String? = nil
    ) throws(ReleaseError)
        -> Changelog
    {
        let body = isUpcomingEmpty ? (fallback ?? "") : upcomingBody
        guard !body.isEmpty else {
            throw ReleaseError(.emptyUpcoming, "nothing under '## Upcoming' to release as v\(version)")
        }
        if section(for: version) != nil {
            throw ReleaseError(.changelog, "CHANGELOG.md already has a '## v\(version)' section")
        }
        let lines = Self.lines(text)
        var result = Array(lines[...upcomingLine])
        result += ["", "## v\(version) — \(date)", "", body, ""]
        var rest = Array(lines[upcomingEnd...])
        while rest.last == "" { rest.removeLast() }
        result += rest
        var joined = result.joined(separator: "\n")
        if !joined.hasSuffix("\n") { joined += "\n" }
        return try Changelog(joined)
    }

    /// The version of a `## vX.Y.Z[ ...]` heading title, or nil.
    static func releaseVersion(ofHeading title: String) -> SemanticVersion? {
        guard title.hasPrefix("v") else { return nil }
        return try? SemanticVersion(title.dropFirst().prefix { !$0.isWhitespace })
    }

    static func marksBreaking(_ body: String) -> Bool {
        body.hasPrefix("**Breaking**") || body.hasPrefix("**Breaking:**") || body.hasPrefix("**BREAKING**")
    }

    static func heading(_ line: String, level: Int) -> String? {
        let marker = String(repeating: "#", count: level) + " "
        guard line.hasPrefix(marker) else { return nil }
        return line.dropFirst(marker.count).trimmingCharacters(in: .whitespaces)
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
    }
}
