// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// How many bytes of a system call argument a condition looks at.
public enum ArgumentWidth: String, Hashable, Sendable, CaseIterable {
    /// 32 bits (`"dword"`): for `int`, `unsigned int` and ioctl request numbers. Values and masks
    /// must fit 32 bits.
    case dword
    /// 64 bits (`"qword"`): for pointers, sizes and `long`s.
    case qword
}

/// The comparison a condition makes between an argument and its value.
public enum Comparison: Hashable, Sendable, CustomStringConvertible {
    /// `argument == value` (`"eq"`).
    case equal
    /// `argument != value` (`"ne"`).
    case notEqual
    /// `argument < value`, unsigned (`"lt"`).
    case less
    /// `argument <= value`, unsigned (`"le"`).
    case lessOrEqual
    /// `argument > value`, unsigned (`"gt"`).
    case greater
    /// `argument >= value`, unsigned (`"ge"`).
    case greaterOrEqual
    /// `argument & mask == value` (`{"masked_eq": mask}`).
    case maskedEqual(UInt64)

    /// The JSON operator name, with the mask for `masked_eq`.
    public var description: String {
        switch self {
        case .equal: return "eq"
        case .notEqual: return "ne"
        case .less: return "lt"
        case .lessOrEqual: return "le"
        case .greater: return "gt"
        case .greaterOrEqual: return "ge"
        case .maskedEqual(let mask): return "masked_eq(\(mask))"
        }
    }
}

/// One test of a system call argument. A ``Rule`` matches when all of its conditions hold.
///
/// ```swift
/// // ioctl(fd, KVM_RUN, ...) only:
/// Rule("ioctl", .arg(1, .equal, 0xAE80, width: .dword))
/// // mmap without PROT_EXEC (bit 2 of argument 2 clear):
/// Rule("mmap", .arg(2, .maskedEqual(0x4), 0, width: .dword))
/// ```
///
/// Comparisons are unsigned. A `dword` `equal` looks at the low 32 bits only, so garbage a C
/// library leaves in the upper half of an `int` argument does not defeat it (`maskedEqual` with
/// a 32-bit mask does the same); the other comparisons see the whole 64-bit register, because
/// libseccomp 2.5 has no 32-bit comparisons.
public struct ArgumentCondition: Hashable, Sendable {
    /// The argument's position, 0 through 5.
    public var index: Int
    /// How much of the argument is compared.
    public var width: ArgumentWidth
    /// The comparison.
    public var comparison: Comparison
    /// The value compared against (the expected result of the masking for `maskedEqual`).
    public var value: UInt64
    /// A note for readers (kept in JSON as `"comment"`).
    public var comment: String?
    /// Where the condition was written, when it came from JSON. Not part of equality.
    public var sourcePosition: SourcePosition?

    /// Creates a condition from its parts.
    public init(
        index: Int, width: ArgumentWidth, comparison: Comparison, value: UInt64, comment: String? = nil,
        sourcePosition: SourcePosition? = nil
    ) {
        self.index = index
        self.width = width
        self.comparison = comparison
        self.value = value
        self.comment = comment
        self.sourcePosition = sourcePosition
    }

    /// A condition on argument `index`. A negative `value` is taken as two's complement in the
    /// argument's width, so `.arg(0, .equal, -1, width: .dword)` means `0xFFFF_FFFF`.
    public static func arg(
        _ index: Int, _ comparison: Comparison, _ value: some BinaryInteger, width: ArgumentWidth = .qword,
        comment: String? = nil
    ) -> ArgumentCondition {
        ArgumentCondition(
            index: index, width: width, comparison: comparison, value: encode(value, width: width), comment: comment)
    }

    /// Equality ignores ``sourcePosition``: a condition is the same wherever it was written.
    public static func == (lhs: ArgumentCondition, rhs: ArgumentCondition) -> Bool {
        lhs.index == rhs.index && lhs.width == rhs.width && lhs.comparison == rhs.comparison
            && lhs.value == rhs.value && lhs.comment == rhs.comment
    }

    /// Hashes the same fields equality compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(index)
        hasher.combine(width)
        hasher.combine(comparison)
        hasher.combine(value)
        hasher.combine(comment)
    }

    /// Negative values become two's complement in `width` when they fit it; anything else keeps
    /// its 64-bit pattern, which compilation then rejects for a `dword`.
    static func encode(_ value: some BinaryInteger, width: ArgumentWidth) -> UInt64 {
        if value < 0, width == .dword, value >= Int32.min {
            return UInt64(UInt32(truncatingIfNeeded: value))
        }
        return UInt64(truncatingIfNeeded: value)
    }
}
