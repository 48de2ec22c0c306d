// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// The seccomp filter of one thread category: rules, the action taken when one
/// matches, and the action taken when none does.
///
/// ```swift
/// let vcpu = SeccompFilter(default: .errno(EPERM)) {
///     Rule("ioctl", .arg(1, .equal, 0xAE80, width: .dword), comment: "KVM_RUN")
///     for name in ["read", "write", "futex", "exit"] {
///         Rule(name)
///     }
///     if allowDebugging {
///         Rule("ptrace")
///     }
/// }
/// let program = try vcpu.compile()
/// try program.install()  // this thread only
/// ```
public struct SeccompFilter: Hashable, Sendable {
    /// What happens to a call no rule matches (JSON `default_action`).
    public var defaultAction: SeccompAction
    /// What happens to a call some rule matches (JSON `filter_action`).
    public var matchAction: SeccompAction
    /// The rules, any of which may match.
    public var rules: [Rule]
    /// A note for readers (kept in JSON as `"comment"`).
    public var comment: String?

    /// Creates a filter from a list of rules.
    public init(default defaultAction: SeccompAction, match matchAction: SeccompAction = .allow, rules: [Rule]) {
        self.defaultAction = defaultAction
        self.matchAction = matchAction
        self.rules = rules
    }

    /// Creates a filter whose rules are listed in a ``RuleBuilder`` block.
    public init(
        default defaultAction: SeccompAction, match matchAction: SeccompAction = .allow,
        @RuleBuilder rules: () -> [Rule]
    ) {
        self.init(default: defaultAction, match: matchAction, rules: rules())
    }
}

/// Builds a rule list from statements: single rules, arrays of rules, `if`/`else`,
/// `switch` and `for` loops.
///
/// ```swift
/// SeccompFilter(default: .trap) {
///     Rule("read")
///     [Rule("write"), Rule("close")]
///     for request in [0xAE80, 0xAE81] {
///         Rule("ioctl", .arg(1, .equal, request, width: .dword))
///     }
/// }
/// ```
@resultBuilder
public enum RuleBuilder {
    /// One rule.
    public static func buildExpression(_ rule: Rule) -> [Rule] { [rule] }
    /// Several rules at once.
    public static func buildExpression(_ rules: [Rule]) -> [Rule] { rules }
    /// The statements of a block, in order.
    public static func buildBlock(_ parts: [Rule]...) -> [Rule] { parts.flatMap { $0 } }
    /// An `if` without `else`.
    public static func buildOptional(_ part: [Rule]?) -> [Rule] { part ?? [] }
    /// The first branch of an `if`/`else` or `switch`.
    public static func buildEither(first part: [Rule]) -> [Rule] { part }
    /// The second branch of an `if`/`else` or `switch`.
    public static func buildEither(second part: [Rule]) -> [Rule] { part }
    /// A `for` loop.
    public static func buildArray(_ parts: [[Rule]]) -> [Rule] { parts.flatMap { $0 } }
    /// `if #available` blocks.
    public static func buildLimitedAvailability(_ part: [Rule]) -> [Rule] { part }
}

/// A whole seccomp policy: one filter per thread category (`"vmm"`, `"api"`, `"vcpu"`),
/// as in a Firecracker JSON file.
///
/// ```swift
/// let policy = try SeccompPolicy(json: text)           // located errors on bad input
/// let programs = try policy.compile()                   // [name: BPFProgram]
/// try programs["vcpu"]!.install()                       // on each vCPU thread
/// ```
public struct SeccompPolicy: Hashable, Sendable {
    /// The filters by thread category.
    public var filters: [String: SeccompFilter]

    /// Creates a policy from filters by name.
    public init(_ filters: [String: SeccompFilter]) { self.filters = filters }

    /// The filter called `name`, if any.
    public subscript(name: String) -> SeccompFilter? {
        get { filters[name] }
        set { filters[name] = newValue }
    }

    /// The filter names in sorted order (the order of JSON output and of compilation).
    public var names: [String] { filters.keys.sorted() }
}
