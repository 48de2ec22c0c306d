// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// The generated dependency graph inside docs/architecture.md.
public enum ArchitectureDocs {
    /// Where the document lives, relative to the root.
    public static let relativePath = "docs/architecture.md"
    /// Opening marker of the generated block.
    public static let beginMarker = "<!-- BEGIN GENERATED: vmm-tools graph --format dot -->"
    /// Closing marker of the generated block.
    public static let endMarker = "<!-- END GENERATED -->"

    /// The dot text between the markers (inside its ```dot fence) and the line it starts on.
    public static func embeddedGraph(in document: String) -> (String, Int)? {
        let lines = document.split(separator: "\n", omittingEmptySubsequences: false)
        guard let begin = lines.firstIndex(where: { $0.contains(beginMarker) }),
            let end = lines[begin...].firstIndex(where: { $0.contains(endMarker) })
        else { return nil }
        let body = lines[(begin + 1)..<end].filter { !$0.hasPrefix("```") }
        return (body.joined(separator: "\n") + "\n", begin + 1)
    }

    /// `document` with the generated block replaced by `dot` (appended if absent).
    public static func replacingGraph(in document: String, with dot: String) -> String {
        let block = "\(beginMarker)\n```dot\n\(dot)```\n\(endMarker)"
        guard let beginRange = document.range(of: beginMarker),
            let endRange = document.range(of: endMarker, range: beginRange.upperBound..<document.endIndex)
        else {
            return document + (document.hasSuffix("\n") ? "\n" : "\n\n") + block + "\n"
        }
        return document.replacingCharacters(in: beginRange.lowerBound..<endRange.upperBound, with: block)
    }
}
