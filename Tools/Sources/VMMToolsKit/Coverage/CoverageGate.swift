// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// How the gate treats coverage that rose past its threshold.
public enum CoverageProfile: String, CaseIterable, Sendable {
    /// A rise beyond the delta fails until the threshold is raised, so thresholds only ratchet up.
    case ci
    /// A rise (or a package without thresholds) rewrites the thresholds file instead.
    case devel
}

/// The gate's verdict on a measurement.
public struct CoverageVerdict: Sendable {
    /// Problems that fail the gate, one line each, naming the package and both numbers.
    public var failures: [String]
    /// Informational lines (what devel rewrote).
    public var notes: [String]
    /// The thresholds to write back (devel profile), or nil when nothing changes.
    public var updatedThresholds: CoverageThresholds?
    /// True when nothing failed.
    public var passed: Bool { failures.isEmpty }
}

/// Compares measured package coverage with `coverage/<arch>.json`.
public enum CoverageGate {
    /// Evaluates `packages` against `thresholds` (`file` names the thresholds file in messages).
    public static func evaluate(
        _ packages: [PackageCoverage], thresholds: CoverageThresholds, profile: CoverageProfile, file: String
    ) -> CoverageVerdict {
        var failures: [String] = []
        var notes: [String] = []
        var updated = thresholds
        for package in packages {
            guard let entry = thresholds.packages[package.name] else {
                let measured = Dictionary(
                    uniqueKeysWithValues: CoverageMetric.allCases.map { ($0, rounded(package.percent($0))) })
                if profile == .devel {
                    updated.packages[package.name] = .init(scores: measured)
                    notes.append("\(package.name): new thresholds lines \(format(measured[.lines]!))%")
                } else {
                    failures.append(
                        "\(package.name): no thresholds in \(file); run `vmm-tools coverage --profile devel` "
                            + "(measured lines \(format(measured[.lines]!))%)")
                }
                continue
            }
            let delta = entry.delta ?? thresholds.delta
            for metric in CoverageMetric.allCases {
                guard let score = entry.scores[metric] else { continue }
                let measured = rounded(package.percent(metric))
                if measured < score - delta {
                    failures.append(
                        "\(package.name): \(metric.rawValue) coverage \(format(measured))% dropped below "
                            + "its threshold \(format(score))% (allowed delta \(format(delta)))")
                } else if measured > score + delta {
                    switch profile {
                    case .ci:
                        failures.append(
                            "\(package.name): \(metric.rawValue) coverage rose to \(format(measured))% from "
                                + "\(format(score))%; raise the threshold: in \(file) set "
                                + "packages.\(package.name).\(metric.rawValue) from \(format(score)) to \(format(measured))"
                        )
                    case .devel:
                        updated.packages[package.name]?.scores[metric] = measured
                        notes.append(
                            "\(package.name): \(metric.rawValue) threshold raised \(format(score)) -> \(format(measured))"
                        )
                    }
                }
            }
        }
        let measuredNames = Set(packages.map(\.name))
        for name in thresholds.packages.keys.sorted() where !measuredNames.contains(name) {
            failures.append("\(name): has thresholds in \(file) but no coverage was measured (removed or untested?)")
        }
        return CoverageVerdict(
            failures: failures, notes: notes, updatedThresholds: updated == thresholds ? nil : updated)
    }

    /// A compact table: package, lines, regions, functions (percent and counts) and the threshold.
    public static func table(_ packages: [PackageCoverage], thresholds: CoverageThresholds) -> String {
        let width = max(16, packages.map(\.name.count).max() ?? 0)
        var lines = [
            "package".padding(toLength: width, withPad: " ", startingAt: 0)
                + "   lines                regions              functions            threshold(lines)"
        ]
        for package in packages {
            var row = package.name.padding(toLength: width, withPad: " ", startingAt: 0)
            for metric in CoverageMetric.allCases {
                let count = package.count(metric)
                row +=
                    "  "
                    + "\(format(count.percent))% \(count.covered)/\(count.count)".padding(
                        toLength: 19, withPad: " ", startingAt: 0)
            }
            row += "  " + (thresholds.packages[package.name]?.scores[.lines].map { "\(format($0))%" } ?? "-")
            lines.append(row)
        }
        return lines.joined(separator: "\n")
    }

    static func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }
    /// Two decimals, from the same rounding the thresholds file stores.
    static func format(_ value: Double) -> String { String(format: "%.2f", rounded(value)) }
}
