// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// `coverage/<arch>.json`: the per-package scores the gate holds the code to.
///
/// ```json
/// {
///   "delta": 0.5,
///   "changedLines": { "minimum": 80 },
///   "packages": {
///     "VMMSysUtil": { "lines": 91.2, "regions": 88.0, "functions": 93.5, "exclude": ["Sources/CVMMSysUtil"] }
///   }
/// }
/// ```
public struct CoverageThresholds: Sendable, Equatable {
    /// One package's thresholds.
    public struct Package: Sendable, Equatable {
        /// Score per metric, in percent (lines is the package's headline score).
        public var scores: [CoverageMetric: Double]
        /// Paths inside the package folder left out of its coverage.
        public var exclude: [String]
        /// Allowed difference before the gate fails, or nil for the file's default.
        public var delta: Double?

        /// Creates thresholds for a package.
        public init(scores: [CoverageMetric: Double], exclude: [String] = [], delta: Double? = nil) {
            self.scores = scores
            self.exclude = exclude
            self.delta = delta
        }
    }

    /// Default allowed delta (percentage points), as in rust-vmm-ci.
    public var delta: Double
    /// Minimum coverage of the executable lines a change adds or modifies.
    public var changedLinesMinimum: Double
    /// Thresholds per package.
    public var packages: [String: Package]

    /// Creates a thresholds file's contents.
    public init(delta: Double = 0.5, changedLinesMinimum: Double = 80, packages: [String: Package] = [:]) {
        self.delta = delta
        self.changedLinesMinimum = changedLinesMinimum
        self.packages = packages
    }

    /// `coverage/<arch>.json` for this machine's architecture (`uname -m`).
    public static func defaultPath(in workspace: Workspace) -> URL {
        var info = utsname()
        // SAFETY: `info` is a local, whole utsname struct, alive for the call: exactly what uname fills in.
        unsafe uname(&info)
        let machine = unsafe withUnsafeBytes(of: &info.machine) { raw in
            // SAFETY: utsname.machine is a fixed-size, NUL-terminated C array; the buffer covers it.
            unsafe String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return workspace.root.appendingPathComponent("coverage/\(machine).json")
    }

    /// Reads a thresholds file; a missing file is an empty set of thresholds.
    public static func load(from url: URL) throws -> CoverageThresholds {
        guard let data = FileManager.default.contents(atPath: url.path) else { return CoverageThresholds() }
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw WorkspaceError("\(url.path) is not a JSON object")
        }
        var packages: [String: Package] = [:]
        for (name, value) in root["packages"] as? [String: Any] ?? [:] {
            guard let entry = value as? [String: Any] else {
                throw WorkspaceError("\(url.path): packages.\(name) is not an object")
            }
            var scores: [CoverageMetric: Double] = [:]
            for metric in CoverageMetric.allCases {
                if let score = (entry[metric.rawValue] as? NSNumber)?.doubleValue { scores[metric] = score }
            }
            packages[name] = Package(
                scores: scores, exclude: entry["exclude"] as? [String] ?? [],
                delta: (entry["delta"] as? NSNumber)?.doubleValue)
        }
        return CoverageThresholds(
            delta: (root["delta"] as? NSNumber)?.doubleValue ?? 0.5,
            changedLinesMinimum: ((root["changedLines"] as? [String: Any])?["minimum"] as? NSNumber)?.doubleValue
                ?? 80,
            packages: packages)
    }

    /// The file's text: stable key order, scores rounded to two decimals, so diffs stay readable.
    public func rendered() -> String {
        func number(_ value: Double) -> String { String(format: "%.2f", value) }
        var lines = ["{", "  \"delta\": \(number(delta)),"]
        lines.append("  \"changedLines\": { \"minimum\": \(number(changedLinesMinimum)) },")
        lines.append("  \"packages\": {")
        let names = packages.keys.sorted()
        for (index, name) in names.enumerated() {
            let entry = packages[name]!
            var fields = CoverageMetric.allCases.compactMap { metric in
                entry.scores[metric].map { "\"\(metric.rawValue)\": \(number($0))" }
            }
            if let delta = entry.delta { fields.append("\"delta\": \(number(delta))") }
            if !entry.exclude.isEmpty {
                fields.append("\"exclude\": [" + entry.exclude.map { "\"\($0)\"" }.joined(separator: ", ") + "]")
            }
            lines.append(
                "    \"\(name)\": { " + fields.joined(separator: ", ") + " }" + (index < names.count - 1 ? "," : ""))
        }
        lines.append("  }")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Exclusions per package, for ``CoverageMeasurement/packages(excluding:)``.
    public var exclusions: [String: [String]] { packages.mapValues(\.exclude) }
}
