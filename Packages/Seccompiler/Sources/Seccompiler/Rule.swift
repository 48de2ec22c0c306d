// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// One entry of a filter: a system call by name, and the conditions (all of them)
/// its arguments must meet. A call matches a filter when it matches any of its rules.
///
/// ```swift
/// Rule("read")                                   // any read
/// Rule("futex", .arg(1, .equal, 0, width: .dword), comment: "FUTEX_WAIT")
/// ```
public struct Rule: Hashable, Sendable {
    /// The system call's name, as libseccomp knows it (`"read"`, `"ioctl"`).
    public var syscall: String
    /// Conditions on the arguments, all of which must hold; none means any arguments.
    public var conditions: [ArgumentCondition]
    /// A note for readers (kept in JSON as `"comment"`).
    public var comment: String?
    /// Where the rule's `"syscall"` value was written, when it came from JSON. Not part of equality.
    public var sourcePosition: SourcePosition?

    /// Creates a rule for `syscall` with the given conditions.
    public init(_ syscall: String, _ conditions: ArgumentCondition..., comment: String? = nil) {
        self.init(syscall, conditions: conditions, comment: comment)
    }

    /// Creates a rule for `syscall` from a list of conditions.
    public init(
        _ syscall: String, conditions: [ArgumentCondition], comment: String? = nil,
        sourcePosition: SourcePosition? = nil
    ) {
        self.syscall = syscall
        self.conditions = conditions
        self.comment = comment
        self.sourcePosition = sourcePosition
    }

    /// Equality ignores ``sourcePosition``.
    public static func == (lhs: Rule, rhs: Rule) -> Bool {
        lhs.syscall == rhs.syscall && lhs.conditions == rhs.conditions && lhs.comment == rhs.comment
    }

    /// Hashes the same fields equality compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(syscall)
        hasher.combine(conditions)
        hasher.combine(comment)
    }
}
