// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A position in a JSON filter file: 1-based line and column.
///
/// Columns count Unicode scalars, so a name after "é" is one column further
/// right, as an editor shows it, not two (its UTF-8 length).
///
/// ```swift
/// let here = SourcePosition(line: 3, column: 17)
/// print(here)  // 3:17
/// ```
public struct SourcePosition: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The line, starting at 1.
    public var line: Int
    /// The column, starting at 1.
    public var column: Int

    /// Creates a position.
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// `"line:column"`.
    public var description: String { "\(line):\(column)" }

    /// Orders positions as they appear in the file.
    public static func < (lhs: SourcePosition, rhs: SourcePosition) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }
}
