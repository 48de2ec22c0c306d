// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A Linux kernel config fragment: `CONFIG_X=value` and `# CONFIG_X is not set` lines.
///
/// Applied on top of a base `.config` (from `make tinyconfig`) before `make olddefconfig`;
/// `unmet(in:)` then lists the settings Kconfig overrode (a dependency missing, or a
/// symbol selected by something else), so a fragment can never silently rot.
///
/// ```swift
/// let fragment = try KernelConfigFragment(parsing: "CONFIG_INET=y\n# CONFIG_PCI is not set\n")
/// let merged = fragment.applied(to: baseConfig)
/// ```
public struct KernelConfigFragment: Sendable, Equatable {
    /// Settings in file order; a nil value means "is not set".
    public var settings: [(name: String, value: String?)]

    /// A fragment with these settings.
    public init(settings: [(name: String, value: String?)]) { self.settings = settings }

    /// Parses fragment text; other comments and blank lines are ignored.
    public init(parsing text: String) throws(GuestBuildError) {
        var settings: [(name: String, value: String?)] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if let name = Self.unsetName(line) {
                settings.append((name, nil))
            } else if line.hasPrefix("#") {
                continue
            } else if let equals = line.firstIndex(of: "="), line.hasPrefix("CONFIG_") {
                let name = String(line[..<equals])
                guard name.dropFirst(7).allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw GuestBuildError("config fragment line \(index + 1): bad symbol name in '\(line)'")
                }
                settings.append((name, String(line[line.index(after: equals)...])))
            } else {
                throw GuestBuildError("config fragment line \(index + 1): expected CONFIG_X=value, got '\(line)'")
            }
        }
        self.settings = settings
    }

    /// `CONFIG_X` from `# CONFIG_X is not set`, else nil.
    static func unsetName(_ line: String) -> String? {
        guard line.hasPrefix("# CONFIG_"), line.hasSuffix(" is not set") else { return nil }
        let name = line.dropFirst(2).dropLast(" is not set".count)
        return name.contains(" ") ? nil : String(name)
    }

    /// The symbol a `.config` line sets (either form), else nil.
    static func symbol(ofConfigLine line: Substring) -> String? {
        if let name = unsetName(String(line)) { return name }
        guard line.hasPrefix("CONFIG_"), let equals = line.firstIndex(of: "=") else { return nil }
        return String(line[..<equals])
    }

    /// `base` with every symbol of the fragment replaced in place, and symbols that
    /// `base` lacks appended; later fragment lines win over earlier ones.
    public func applied(to base: String) -> String {
        var wanted: [String: String] = [:]
        var order: [String] = []
        for (name, value) in settings {
            if wanted[name] == nil { order.append(name) }
            wanted[name] = Self.line(name, value)
        }
        var seen = Set<String>()
        var output: [String] = []
        for line in base.split(separator: "\n", omittingEmptySubsequences: false) {
            if let name = Self.symbol(ofConfigLine: line), let replacement = wanted[name] {
                if seen.insert(name).inserted { output.append(replacement) }
            } else {
                output.append(String(line))
            }
        }
        if output.last == "" { output.removeLast() }
        for name in order where !seen.contains(name) { output.append(wanted[name]!) }
        return output.joined(separator: "\n") + "\n"
    }

    /// Settings the final `.config` does not honour, as `wanted → got` lines (empty when all hold).
    public func unmet(in config: String) -> [String] {
        var actual: [String: String] = [:]
        for line in config.split(separator: "\n") {
            guard let name = Self.symbol(ofConfigLine: line), !line.hasPrefix("#") else { continue }
            actual[name] = String(line[line.index(after: line.firstIndex(of: "=")!)...])
        }
        var final: [String: String?] = [:]
        for (name, value) in settings { final[name] = value }
        return final.keys.sorted().compactMap { name in
            let value = final[name]!
            let got = actual[name]
            if value == got || (value == "n" && got == nil) { return nil }
            return "\(Self.line(name, value)) → \(got.map { "\(name)=\($0)" } ?? "not set")"
        }
    }

    static func line(_ name: String, _ value: String?) -> String {
        value.map { "\(name)=\($0)" } ?? "# \(name) is not set"
    }

    /// Compares settings by name and value.
    public static func == (lhs: KernelConfigFragment, rhs: KernelConfigFragment) -> Bool {
        lhs.settings.map(\.name) == rhs.settings.map(\.name) && lhs.settings.map(\.value) == rhs.settings.map(\.value)
    }
}

/// A failure preparing or booting a guest, with a one-line explanation.
public struct GuestBuildError: Error, CustomStringConvertible, Equatable {
    /// What went wrong and, where known, what to do.
    public var description: String
    /// Creates an error with a one-line explanation.
    public init(_ description: String) { self.description = description }
}
