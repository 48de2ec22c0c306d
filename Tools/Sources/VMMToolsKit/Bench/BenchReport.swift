// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// One figure of a benchmark: our number, the peer's number measured in the same
/// run, and their ratio oriented so that ≥ 1.0 means "we are at least as good".
///
/// ```swift
/// let result = BenchResult(
///     name: "uart-transmit", unit: "bytes/s", ours: 3.1e8, peer: 2.9e8,
///     peerName: "rust-vmm vm-superio 0.7.0", higherIsBetter: true, goal: 1.0)
/// print(result.ratio!)  // 1.07
/// ```
public struct BenchResult: Codable, Sendable, Equatable {
    /// What was measured, kebab-case (`uart-transmit`, `guest-memory-read`).
    public var name: String
    /// Unit of `ours` and `peer` (`bytes/s`, `ns/op`, `MiB`).
    public var unit: String
    /// Our figure.
    public var ours: Double
    /// The peer's figure, nil when the peer could not run (see `notes`).
    public var peer: Double?
    /// Who the peer is, with its version.
    public var peerName: String
    /// True for throughputs, false for latencies and sizes.
    public var higherIsBetter: Bool
    /// ours/peer for throughputs, peer/ours otherwise; nil without a peer figure.
    public var ratio: Double?
    /// The ratio the project aims for, if any.
    public var goal: Double?
    /// How the figures were obtained (sizes, repetitions, build modes, peer failures).
    public var notes: [String]

    /// Creates a result and computes its ratio.
    public init(
        name: String, unit: String, ours: Double, peer: Double?, peerName: String, higherIsBetter: Bool,
        goal: Double? = nil, notes: [String] = []
    ) {
        self.name = name
        self.unit = unit
        self.ours = ours
        self.peer = peer
        self.peerName = peerName
        self.higherIsBetter = higherIsBetter
        self.goal = goal
        self.notes = notes
        if let peer, peer > 0, ours > 0 {
            ratio = higherIsBetter ? ours / peer : peer / ours
        } else {
            ratio = nil
        }
    }

    /// True when there is a goal and a ratio and the ratio reaches the goal; true
    /// as well when there is no goal (nothing to miss).
    public var meetsGoal: Bool {
        guard let goal else { return true }
        guard let ratio else { return false }
        return ratio >= goal
    }
}

/// The figures of one `vmm-tools bench <area>` run, rendered as text or JSON.
///
/// ```swift
/// let report = BenchReport(area: "serial", results: [result])
/// print(report.text())
/// print(try report.json())
/// ```
public struct BenchReport: Codable, Sendable, Equatable {
    /// The bench area (`serial`, `memory`).
    public var area: String
    /// `release` or `debug`: how the module measuring *our* side was compiled.
    public var build: String
    /// Host description (kernel, CPU count) for comparing runs.
    public var host: String
    /// The figures.
    public var results: [BenchResult]

    /// Creates a report; `build` defaults to how VMMToolsKit was compiled.
    public init(
        area: String, build: String = BenchEnvironment.buildConfiguration, host: String = BenchEnvironment.host,
        results: [BenchResult]
    ) {
        self.area = area
        self.build = build
        self.host = host
        self.results = results
    }

    /// True when every result meets its goal.
    public var meetsGoals: Bool { results.allSatisfy(\.meetsGoal) }

    /// The `--json` form every bench command prints: a top-level array with one object
    /// per figure — `name`, `unit`, `ours`, `peer`, `ratio`, plus `peerName`, `goal`,
    /// `notes` and the run's `area`, `build` and `host` — pretty-printed with sorted keys.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        var entries: [Any] = []
        for result in results {
            guard var entry = try JSONSerialization.jsonObject(with: encoder.encode(result)) as? [String: Any] else {
                continue
            }
            // A figure that could not be measured is an explicit null, so readers see the gap.
            for key in ["peer", "ratio", "goal"] where entry[key] == nil { entry[key] = NSNull() }
            entry["area"] = area
            entry["build"] = build
            entry["host"] = host
            entries.append(entry)
        }
        let data = try JSONSerialization.data(withJSONObject: entries, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// A table, one line per result, then the notes and a one-line verdict.
    public func text() -> String {
        var lines = ["bench \(area) (\(build) build, \(host))"]
        for result in results {
            let ours = Self.format(result.ours)
            let peer = result.peer.map(Self.format) ?? "n/a"
            let ratio = result.ratio.map { String(format: "%.2fx", $0) } ?? "n/a"
            let goal = result.goal.map { String(format: " (goal ≥ %.2fx)", $0) } ?? ""
            lines.append(
                "  \(result.name): ours \(ours) \(result.unit), \(result.peerName) \(peer) \(result.unit), "
                    + "ratio \(ratio)\(goal)")
            for note in result.notes { lines.append("    - \(note)") }
        }
        lines.append(verdict)
        return lines.joined(separator: "\n")
    }

    /// `bench <area>: <ratios>, goal met|missed`.
    public var verdict: String {
        let ratios = results.map { result in
            "\(result.name) \(result.ratio.map { String(format: "%.2fx", $0) } ?? "n/a")"
        }
        return "bench \(area): \(ratios.joined(separator: ", ")), goal \(meetsGoals ? "met" : "missed")"
    }

    /// Engineering notation with three significant digits (1.23e+08 → "123M").
    static func format(_ value: Double) -> String {
        let scales: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (scale, suffix) in scales where abs(value) >= scale {
            return String(format: "%.3g%@", value / scale, suffix)
        }
        return String(format: "%.3g", value)
    }
}

/// Facts about how and where a benchmark runs, and small timing helpers.
public enum BenchEnvironment {
    /// `debug` or `release`, as VMMToolsKit (which runs our side) was compiled.
    public static var buildConfiguration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    /// Kernel release and online CPU count.
    public static var host: String {
        var name = utsname()
        unsafe uname(&name)
        let release = unsafe withUnsafeBytes(of: &name.release) { bytes in  // SAFETY: reads within the fixed-size field
            unsafe String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return "Linux \(release), \(ProcessInfo.processInfo.activeProcessorCount) CPUs"
    }

    /// Seconds `body` takes, on the monotonic clock.
    public static func time(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// CPU seconds the calling thread spends in `body` (CLOCK_THREAD_CPUTIME_ID):
    /// time the thread is descheduled on a busy machine does not count, so this
    /// is the steadier figure for CPU-bound loops on shared hosts.
    public static func threadCPUTime(_ body: () -> Void) -> Double {
        func now() -> Double {
            var spec = timespec()
            // SAFETY: `spec` is a local timespec, alive for the call: the one struct clock_gettime writes.
            unsafe clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
            return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
        }
        let start = now()
        body()
        return now() - start
    }

    /// The median of `values` (the mean of the middle two for an even count).
    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
