// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import LinuxLoader
import VMMSysUtil

/// A sampling profiler for the guest: where each vCPU's instruction pointer is, at a fixed interval.
///
/// The thread that waits for the run's outcome kicks every vCPU once per ``interval``; a kicked
/// vCPU leaves `KVM_RUN`, records its RIP (`KVM_GET_REGS`) and enters again. No guest
/// cooperation is needed, so it profiles what no in-guest tool can see on a PVM host: the
/// early boot, and kernel code that runs in the host's instruction emulator.
///
/// ```swift
/// var options = RunOptions()
/// options.profiler = GuestProfiler(interval: .milliseconds(2))
/// let result = try IntegrationVMM.run(config, options: options)
/// let symbols = try ELFSymbolTable(elf: ELFKernel(kernelBytes))
/// print(options.profiler!.report { symbols.symbol(containing: $0).map { ($0.symbol.name, $0.offset) } })
/// ```
public final class GuestProfiler: @unchecked Sendable {
    // @unchecked: `samples` and `dropped` are only touched under `lock`.

    /// One sample: when (since the profiler was made), which vCPU, and its RIP.
    public struct Sample: Equatable, Sendable {
        /// Time since the profiler was created.
        public var elapsed: Duration
        /// The vCPU's index.
        public var vcpu: Int
        /// The guest instruction pointer.
        public var rip: UInt64
        /// A sample.
        public init(elapsed: Duration, vcpu: Int, rip: UInt64) {
            self.elapsed = elapsed
            self.vcpu = vcpu
            self.rip = rip
        }

        /// ``elapsed`` in whole milliseconds.
        public var milliseconds: Int64 { elapsed.wholeNanoseconds / 1_000_000 }
    }

    /// Time between two kicks of every vCPU.
    public let interval: Duration
    /// At most this many samples are kept; later ones are counted in ``droppedSamples``.
    public let capacity: Int
    private let start = ContinuousClock.now
    private let lock = NSLock()
    private var stored: [Sample] = []
    private var dropped = 0

    /// A profiler kicking every `interval` (1 ms ... 1 s) and keeping up to `capacity` samples.
    public init(interval: Duration = .milliseconds(2), capacity: Int = 1 << 20) {
        self.interval = min(max(interval, .milliseconds(1)), .seconds(1))
        self.capacity = max(capacity, 1)
        stored.reserveCapacity(min(self.capacity, 1 << 16))
    }

    /// Records one RIP of vCPU `vcpu` (called on the vCPU's thread).
    public func record(vcpu: Int, rip: UInt64) {
        record(Sample(elapsed: ContinuousClock.now - start, vcpu: vcpu, rip: rip))
    }

    /// Records a sample taken elsewhere (another profiler's, or a test's).
    public func record(_ sample: Sample) {
        lock.withLock {
            if stored.count < capacity { stored.append(sample) } else { dropped += 1 }
        }
    }

    /// The samples so far, in the order they were taken.
    public var samples: [Sample] { lock.withLock { stored } }
    /// Samples not kept because ``capacity`` was reached.
    public var droppedSamples: Int { lock.withLock { dropped } }

    /// The kick interval in milliseconds, as `poll` takes it.
    var intervalMilliseconds: Int32 { Int32(clamping: interval.wholeMillisecondsRoundedUp) }

    /// x86-64 kernels live in the upper half of the address space; user code in the lower half.
    public static func isKernelAddress(_ rip: UInt64) -> Bool { rip >= 0xffff_8000_0000_0000 }

    /// A text report: totals, the `top` functions by samples, and the leading functions of each
    /// `window` of time. `symbolize` names an address (function and offset) or returns nil.
    public func report(
        top: Int = 60, window: Duration = .seconds(5), symbolize: (UInt64) -> (name: String, offset: UInt64)?
    ) -> String {
        let samples = self.samples
        var names: [UInt64: String] = [:]
        func name(_ rip: UInt64) -> String {
            if let known = names[rip] { return known }
            let resolved: String
            if !Self.isKernelAddress(rip) {
                resolved = "[user]"
            } else if let symbol = symbolize(rip) {
                resolved = symbol.name
            } else {
                resolved = "[kernel 0x" + String(rip, radix: 16) + "]"
            }
            names[rip] = resolved
            return resolved
        }
        var lines: [String] = []
        let kernel = samples.filter { Self.isKernelAddress($0.rip) }.count
        let span = samples.last.map { $0.elapsed } ?? .zero
        lines.append(
            "guest profile: \(samples.count) samples over \(Self.format(span)) s, one per vCPU every "
                + "\(intervalMilliseconds) ms; kernel \(Self.percent(kernel, of: samples.count)), "
                + "user \(Self.percent(samples.count - kernel, of: samples.count))"
                + (dropped > 0 ? "; \(droppedSamples) dropped (capacity)" : ""))
        lines.append("")
        lines.append("samples  share  function")
        for (function, count) in Self.ranked(samples.map { name($0.rip) }).prefix(top) {
            lines.append(
                String(repeating: " ", count: max(0, 7 - String(count).count)) + "\(count)  "
                    + Self.percent(count, of: samples.count) + "  " + function)
        }
        let windowNanoseconds = max(window.wholeNanoseconds, 1)
        var buckets: [Int64: [String]] = [:]
        for sample in samples {
            buckets[sample.elapsed.wholeNanoseconds / windowNanoseconds, default: []].append(name(sample.rip))
        }
        lines.append("")
        lines.append("by \(Self.format(window)) s window (leading functions):")
        for index in buckets.keys.sorted() {
            let entries = buckets[index]!
            let leaders = Self.ranked(entries).prefix(5).map {
                "\($0.name) \(Self.percent($0.count, of: entries.count))"
            }
            let from = Self.format(.nanoseconds(index * windowNanoseconds))
            lines.append("  \(from) s: " + leaders.joined(separator: ", "))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Names by descending count (ties by name, so the report is stable).
    static func ranked(_ names: [String]) -> [(name: String, count: Int)] {
        var counts: [String: Int] = [:]
        for name in names { counts[name, default: 0] += 1 }
        return counts.map { (name: $0.key, count: $0.value) }.sorted {
            $0.count != $1.count ? $0.count > $1.count : $0.name < $1.name
        }
    }

    static func percent(_ part: Int, of whole: Int) -> String {
        guard whole > 0 else { return "  0.0%" }
        let tenths = (part * 1000 + whole / 2) / whole
        let text = "\(tenths / 10).\(tenths % 10)%"
        return String(repeating: " ", count: max(0, 6 - text.count)) + text
    }

    static func format(_ duration: Duration) -> String {
        let milliseconds = duration.wholeNanoseconds / 1_000_000
        return
            "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - String(milliseconds % 1000).count))\(milliseconds % 1000)"
    }
}

/// Function names for profile addresses, from the symbol table of the ELF kernel that was booted.
///
/// ```swift
/// if let symbols = ProfileSymbols.load(kernelPath: "vmlinux"), let hit = symbols.lookup(0xffff_ffff_8100_0000) {
///     print("\(hit.name)+\(hit.offset)")
/// }
/// ```
public struct ProfileSymbols: Sendable {
    let table: ELFSymbolTable

    /// Reads `kernelPath`'s symbol table; nil when it is not an ELF file or has none (a bzImage, a stripped vmlinux).
    public static func load(kernelPath: String) -> ProfileSymbols? {
        guard let data = FileManager.default.contents(atPath: kernelPath),
            let table = try? ELFSymbolTable([UInt8](data))
        else { return nil }
        return ProfileSymbols(table: table)
    }

    /// The symbol containing `address` and the offset into it.
    public func lookup(_ address: UInt64) -> (name: String, offset: UInt64)? {
        table.symbol(containing: address).map { ($0.symbol.name, $0.offset) }
    }
}
