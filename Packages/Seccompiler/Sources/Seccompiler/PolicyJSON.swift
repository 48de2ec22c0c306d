// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

extension SeccompPolicy {
    /// Parses a policy in Firecracker's seccompiler JSON format.
    ///
    /// ```json
    /// {
    ///     "vcpu": {
    ///         "default_action": {"errno": 1},
    ///         "filter_action": "allow",
    ///         "filter": [
    ///             {"syscall": "read"},
    ///             {"syscall": "ioctl", "args": [
    ///                 {"index": 1, "type": "dword", "op": "eq", "val": 44672, "comment": "KVM_RUN"}
    ///             ]}
    ///         ]
    ///     }
    /// }
    /// ```
    ///
    /// Besides Firecracker's key names the parser accepts the rust-vmm seccompiler crate's
    /// (`mismatch_action`, `match_action`) and the older `arg_index`/`arg_type`, and a
    /// `"comment"` on filters, rules and conditions. Unknown keys are errors, not ignored:
    /// a misspelt `"args"` would otherwise turn a narrow rule into one matching any arguments.
    /// System call names are checked for `architecture` (the host's when nil), so an unknown
    /// name is reported with its position here rather than at compilation.
    ///
    /// - Throws: ``SeccompJSONError`` with the line and column of the first problem.
    public init(json: String, architecture: Architecture? = nil) throws(SeccompJSONError) {
        try self.init(jsonBytes: Array(json.utf8), architecture: architecture)
    }

    /// Parses a policy from the bytes of a JSON file (UTF-8, an optional byte order mark).
    public init(jsonBytes: [UInt8], architecture: Architecture? = nil) throws(SeccompJSONError) {
        let root = try JSONReader.parse(jsonBytes)
        self = try PolicyDecoder(architecture: architecture).policy(root)
    }
}

/// Maps a parsed JSON tree onto the filter model, checking the schema as it goes, in file order.
struct PolicyDecoder {
    let architecture: Architecture?

    typealias Failure = SeccompJSONError

    func policy(_ root: JSONNode) throws(Failure) -> SeccompPolicy {
        var filters: [String: SeccompFilter] = [:]
        for member in try object(root) {
            filters[member.key] = try filter(member.value)
        }
        return SeccompPolicy(filters)
    }

    private func filter(_ node: JSONNode) throws(Failure) -> SeccompFilter {
        var defaultAction: SeccompAction?
        var matchAction: SeccompAction?
        var rules: [Rule]?
        var comment: String?
        var claimed = KeyClaims()
        for member in try object(node) {
            switch member.key {
            case "default_action", "mismatch_action":
                try claimed.claim("default_action", member)
                defaultAction = try action(member.value)
            case "filter_action", "match_action":
                try claimed.claim("filter_action", member)
                matchAction = try action(member.value)
            case "filter":
                rules = try array(member.value).map { (element) throws(Failure) in try rule(element) }
            case "comment":
                comment = try string(member.value)
            default:
                throw Failure(.unknownKey(clipped(member.key)), at: member.keyPosition)
            }
        }
        guard let defaultAction else { throw Failure(.missingKey("default_action"), at: node.position) }
        guard let matchAction else { throw Failure(.missingKey("filter_action"), at: node.position) }
        guard let rules else { throw Failure(.missingKey("filter"), at: node.position) }
        var result = SeccompFilter(default: defaultAction, match: matchAction, rules: rules)
        result.comment = comment
        return result
    }

    private func action(_ node: JSONNode) throws(Failure) -> SeccompAction {
        switch node.value {
        case .string(let name):
            switch name {
            case "allow": return .allow
            case "kill_thread": return .killThread
            case "kill_process": return .killProcess
            case "trap": return .trap
            case "log": return .log
            default: throw Failure(.unknownAction(clipped(name)), at: node.position)
            }
        case .object(let members):
            guard let first = members.first else { throw Failure(.unknownAction("{}"), at: node.position) }
            if members.count > 1 { throw Failure(.unknownKey(clipped(members[1].key)), at: members[1].keyPosition) }
            switch first.key {
            case "errno":
                let code = try integer(first.value, in: 0...UInt64(SeccompAction.maximumErrno))
                return .errno(Int32(code))
            case "trace":
                return .trace(UInt16(try integer(first.value, in: 0...UInt64(UInt16.max))))
            default:
                throw Failure(.unknownAction(clipped(first.key)), at: first.keyPosition)
            }
        default:
            throw Failure(.wrongType(expected: [.string, .object], found: node.type), at: node.position)
        }
    }

    private func rule(_ node: JSONNode) throws(Failure) -> Rule {
        var syscall: (name: String, position: SourcePosition)?
        var conditions: [ArgumentCondition] = []
        var comment: String?
        for member in try object(node) {
            switch member.key {
            case "syscall":
                let name = try string(member.value)
                if architecture.syscallNumber(name) == nil {
                    throw Failure(.unknownSyscall(clipped(name)), at: member.value.position)
                }
                syscall = (name, member.value.position)
            case "args":
                var tested: Set<Int> = []
                for element in try array(member.value) {
                    let (condition, indexPosition) = try self.condition(element)
                    if !tested.insert(condition.index).inserted {
                        throw Failure(.duplicateArgumentIndex(condition.index), at: indexPosition)
                    }
                    conditions.append(condition)
                }
            case "comment":
                comment = try string(member.value)
            default:
                throw Failure(.unknownKey(clipped(member.key)), at: member.keyPosition)
            }
        }
        guard let syscall else { throw Failure(.missingKey("syscall"), at: node.position) }
        return Rule(syscall.name, conditions: conditions, comment: comment, sourcePosition: syscall.position)
    }

    private func condition(_ node: JSONNode) throws(Failure) -> (ArgumentCondition, SourcePosition) {
        var index: (value: Int, position: SourcePosition)?
        var width: ArgumentWidth?
        var comparison: Comparison?
        var maskNode: JSONNode?
        var value: (value: UInt64, node: JSONNode)?
        var comment: String?
        var claimed = KeyClaims()
        for member in try object(node) {
            switch member.key {
            case "index", "arg_index":
                try claimed.claim("index", member)
                index = (Int(try integer(member.value, in: 0...5)), member.value.position)
            case "type", "arg_type":
                try claimed.claim("type", member)
                let name = try string(member.value)
                guard let parsed = ArgumentWidth(rawValue: name) else {
                    throw Failure(.unknownArgumentType(clipped(name)), at: member.value.position)
                }
                width = parsed
            case "op":
                (comparison, maskNode) = try self.comparison(member.value)
            case "val":
                value = (try integer(member.value, in: 0...UInt64.max), member.value)
            case "comment":
                comment = try string(member.value)
            default:
                throw Failure(.unknownKey(clipped(member.key)), at: member.keyPosition)
            }
        }
        guard let index else { throw Failure(.missingKey("index"), at: node.position) }
        guard let width else { throw Failure(.missingKey("type"), at: node.position) }
        guard let comparison else { throw Failure(.missingKey("op"), at: node.position) }
        guard let value else { throw Failure(.missingKey("val"), at: node.position) }
        if width == .dword {
            // Only now is the width known: the keys may come in any order.
            let limit = UInt64(UInt32.max)
            if value.value > limit { throw outOfRange(value.node, 0...limit) }
            if case .maskedEqual(let mask) = comparison, mask > limit, let maskNode {
                throw outOfRange(maskNode, 0...limit)
            }
        }
        let condition = ArgumentCondition(
            index: index.value, width: width, comparison: comparison, value: value.value, comment: comment,
            sourcePosition: node.position)
        return (condition, index.position)
    }

    /// The operator, and the node of the mask for `masked_eq` (for a later `dword` range check).
    private func comparison(_ node: JSONNode) throws(Failure) -> (Comparison, JSONNode?) {
        switch node.value {
        case .string(let name):
            switch name {
            case "eq": return (.equal, nil)
            case "ne": return (.notEqual, nil)
            case "lt": return (.less, nil)
            case "le": return (.lessOrEqual, nil)
            case "gt": return (.greater, nil)
            case "ge": return (.greaterOrEqual, nil)
            default: throw Failure(.unknownOperator(clipped(name)), at: node.position)
            }
        case .object(let members):
            guard let first = members.first else { throw Failure(.unknownOperator("{}"), at: node.position) }
            guard first.key == "masked_eq" else {
                throw Failure(.unknownOperator(clipped(first.key)), at: first.keyPosition)
            }
            if members.count > 1 { throw Failure(.unknownKey(clipped(members[1].key)), at: members[1].keyPosition) }
            return (.maskedEqual(try integer(first.value, in: 0...UInt64.max)), first.value)
        default:
            throw Failure(.wrongType(expected: [.string, .object], found: node.type), at: node.position)
        }
    }

    // MARK: typed access

    private func object(_ node: JSONNode) throws(Failure) -> [JSONNode.Member] {
        guard case .object(let members) = node.value else {
            throw Failure(.wrongType(expected: [.object], found: node.type), at: node.position)
        }
        return members
    }

    private func array(_ node: JSONNode) throws(Failure) -> [JSONNode] {
        guard case .array(let elements) = node.value else {
            throw Failure(.wrongType(expected: [.array], found: node.type), at: node.position)
        }
        return elements
    }

    private func string(_ node: JSONNode) throws(Failure) -> String {
        guard case .string(let text) = node.value else {
            throw Failure(.wrongType(expected: [.string], found: node.type), at: node.position)
        }
        return text
    }

    /// A base-10 integer within `range`. The text is already a valid JSON number.
    private func integer(_ node: JSONNode, in range: ClosedRange<UInt64>) throws(Failure) -> UInt64 {
        guard case .number(let text) = node.value, node.type == .integer else {
            throw Failure(.wrongType(expected: [.integer], found: node.type), at: node.position)
        }
        var digits = Substring(text)
        let negative = digits.first == "-"
        if negative { digits = digits.dropFirst() }
        var value: UInt64 = 0
        for digit in digits.utf8 {
            let (times, overflowTimes) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowSum) = times.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            if overflowTimes || overflowSum { throw outOfRange(node, range) }
            value = sum
        }
        // "-0" is zero; any other negative number is out of every range here.
        if (negative && value != 0) || !range.contains(value) { throw outOfRange(node, range) }
        return value
    }

    private func outOfRange(_ node: JSONNode, _ range: ClosedRange<UInt64>) -> Failure {
        guard case .number(let text) = node.value else {
            return Failure(.wrongType(expected: [.integer], found: node.type), at: node.position)
        }
        return Failure(.valueOutOfRange(clipped(text), allowed: range), at: node.position)
    }
}

/// Keys seen in one object under their canonical names, so `index` and `arg_index` together
/// are reported as a duplicate (JSONReader already catches the same spelling twice).
private struct KeyClaims {
    private var names: Set<String> = []

    mutating func claim(_ canonical: String, _ member: JSONNode.Member) throws(SeccompJSONError) {
        if !names.insert(canonical).inserted {
            throw SeccompJSONError(.duplicateKey(clipped(member.key)), at: member.keyPosition)
        }
    }
}

extension Optional where Wrapped == Architecture {
    /// The number of `name` on this architecture, or on the host's when nil.
    func syscallNumber(_ name: String) -> Int32? {
        switch self {
        case .some(let architecture): return architecture.syscallNumber(name)
        case .none: return Architecture.hostSyscallNumber(name)
        }
    }
}
