// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

extension SeccompPolicy {
    /// The policy in Firecracker's JSON format: filters sorted by name, rules in order,
    /// four-space indentation. ``init(json:architecture:)`` reads it back to an equal policy.
    ///
    /// ```swift
    /// let policy = SeccompPolicy(["vcpu": SeccompFilter(default: .trap) { Rule("read") }])
    /// print(policy.json())
    /// ```
    public func json() -> String {
        var writer = JSONWriter()
        writer.open("{")
        for (position, name) in names.enumerated() {
            writer.key(name, first: position == 0)
            writer.filter(filters[name]!)
        }
        writer.close("}")
        writer.output.append("\n")
        return writer.output
    }
}

/// Pretty-prints the model; only what ``SeccompPolicy/json()`` needs.
private struct JSONWriter {
    var output = ""
    private var depth = 0

    mutating func open(_ bracket: String) {
        output.append(bracket)
        depth += 1
    }

    mutating func close(_ bracket: String, empty: Bool = false) {
        depth -= 1
        if !empty { newline() }
        output.append(bracket)
    }

    private mutating func newline() {
        output.append("\n")
        output.append(String(repeating: "    ", count: depth))
    }

    mutating func key(_ key: String, first: Bool) {
        if !first { output.append(",") }
        newline()
        string(key)
        output.append(": ")
    }

    mutating func string(_ text: String) {
        output.append("\"")
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output.append("\\\"")
            case "\\": output.append("\\\\")
            case "\n": output.append("\\n")
            case "\r": output.append("\\r")
            case "\t": output.append("\\t")
            case "\u{08}": output.append("\\b")
            case "\u{0C}": output.append("\\f")
            case "\u{00}"..."\u{1F}": output.append("\\u\(hex(scalar.value, digits: 4))")
            default: output.unicodeScalars.append(scalar)
            }
        }
        output.append("\"")
    }

    mutating func filter(_ filter: SeccompFilter) {
        open("{")
        key("default_action", first: true)
        action(filter.defaultAction)
        key("filter_action", first: false)
        action(filter.matchAction)
        key("filter", first: false)
        open("[")
        for (position, rule) in filter.rules.enumerated() {
            if position > 0 { output.append(",") }
            newline()
            self.rule(rule)
        }
        close("]", empty: filter.rules.isEmpty)
        if let comment = filter.comment {
            key("comment", first: false)
            string(comment)
        }
        close("}")
    }

    private mutating func action(_ action: SeccompAction) {
        switch action {
        case .errno(let code): output.append("{\"errno\": \(code)}")
        case .trace(let data): output.append("{\"trace\": \(data)}")
        default: string(action.description)
        }
    }

    private mutating func rule(_ rule: Rule) {
        open("{")
        key("syscall", first: true)
        string(rule.syscall)
        if let comment = rule.comment {
            key("comment", first: false)
            string(comment)
        }
        if !rule.conditions.isEmpty {
            key("args", first: false)
            open("[")
            for (position, condition) in rule.conditions.enumerated() {
                if position > 0 { output.append(",") }
                newline()
                self.condition(condition)
            }
            close("]")
        }
        close("}")
    }

    private mutating func condition(_ condition: ArgumentCondition) {
        open("{")
        key("index", first: true)
        output.append(String(condition.index))
        key("type", first: false)
        string(condition.width.rawValue)
        key("op", first: false)
        switch condition.comparison {
        case .maskedEqual(let mask): output.append("{\"masked_eq\": \(mask)}")
        default: string(condition.comparison.description)
        }
        key("val", first: false)
        output.append(String(condition.value))
        if let comment = condition.comment {
            key("comment", first: false)
            string(comment)
        }
        close("}")
    }
}
