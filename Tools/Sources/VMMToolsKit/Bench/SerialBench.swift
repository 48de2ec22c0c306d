// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import VMSuperIO

/// `vmm-tools bench serial`: bytes per second through a 16550A's transmit path
/// into a sink, ours (VMSuperIO) against rust-vmm's vm-superio built offline from
/// Debian's `librust-vm-superio-dev`, with the same register sequence on both.
///
/// Per byte, the guest driver's console loop: read LSR (wait for THRE), write THR.
/// THRE interrupts are enabled, and every 16 bytes the driver reads IIR as its
/// interrupt handler would, which acknowledges THRE so the next write re-arms it.
/// Both sinks count and sum the bytes, both interrupt triggers count, and both
/// sides report the sum of the status values they read: the figures only count
/// when the two models answered the driver identically.
///
/// The machine is shared, so both sides time their loop in CPU time of the
/// measuring thread (CLOCK_THREAD_CPUTIME_ID: time spent descheduled does not
/// count), the sides alternate round by round (ours, then the peer process) so
/// both see the same load, and each side's figure is its median round.
///
/// ```swift
/// let report = SerialBench(bytes: 10_000_000, rounds: 7).run()
/// print(report.text())
/// ```
public struct SerialBench: Sendable {
    /// Bytes transmitted per timed run.
    public var bytes: Int
    /// Alternating rounds (one timed run per side each).
    public var rounds: Int

    /// Creates the benchmark.
    public init(bytes: Int = 10_000_000, rounds: Int = 7) {
        self.bytes = bytes
        self.rounds = rounds
    }

    /// What one timed run measured.
    public struct Measurement: Sendable, Equatable {
        /// Bytes per CPU second of the measuring thread.
        public var bytesPerSecond: Double
        /// Sum of the transmitted bytes (must match between the sides).
        public var checksum: UInt64
        /// Interrupts raised in the run.
        public var interrupts: UInt64
        /// Sum of the LSR and IIR values read in the run: both models must answer
        /// the driver identically, and using the reads keeps them from being optimized out.
        public var statusSum: UInt64
    }

    /// The byte transmitted at position `index` (printable ASCII, same on both sides).
    @inline(__always)
    static func byte(at index: Int) -> UInt8 { UInt8(truncatingIfNeeded: index % 95 + 32) }

    /// Expected checksum of one run.
    public var expectedChecksum: UInt64 {
        (0..<bytes).reduce(UInt64(0)) { $0 &+ UInt64(Self.byte(at: $1)) }
    }

    /// One timed run of our UART.
    public func measureOurs() -> Measurement {
        let trigger = CountingBenchTrigger()
        var serial = Serial(interrupt: trigger, sink: CountingBenchSink())
        serial.write(offset: UARTRegister.lineControl, value: 0x03)
        serial.write(offset: UARTRegister.interruptIdentification, value: 0x01)
        serial.write(offset: UARTRegister.interruptEnable, value: 0x02)
        let count = bytes
        var status: UInt64 = 0
        let seconds = BenchEnvironment.threadCPUTime { status = Self.transmit(count, through: &serial) }
        return Measurement(
            bytesPerSecond: Double(count) / seconds, checksum: serial.sink.sum, interrupts: trigger.raises,
            statusSum: status)
    }

    /// The driver loop, out of line so `serial` stays a local value rather than a
    /// variable captured by the timing closure. Returns the sum of the status reads.
    @inline(never)
    static func transmit(
        _ count: Int, through serial: inout Serial<CountingBenchTrigger, CountingBenchSink>
    )
        -> UInt64
    {
        var status: UInt64 = 0
        for index in 0..<count {
            status &+= UInt64(serial.read(offset: UARTRegister.lineStatus))
            serial.write(offset: UARTRegister.data, value: byte(at: index))
            if index & 15 == 15 {
                status &+= UInt64(serial.read(offset: UARTRegister.interruptIdentification))
            }
        }
        return status
    }

    /// Parses the peer program's `key=value` line.
    static func parsePeer(_ output: String) -> Measurement? {
        var fields: [String: String] = [:]
        for token in output.split(whereSeparator: \.isWhitespace) {
            let parts = token.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let rate = fields["bytes_per_second"].flatMap(Double.init),
            let checksum = fields["checksum"].flatMap(UInt64.init),
            let interrupts = fields["interrupts"].flatMap(UInt64.init),
            let statusSum = fields["status_sum"].flatMap(UInt64.init)
        else { return nil }
        return Measurement(bytesPerSecond: rate, checksum: checksum, interrupts: interrupts, statusSum: statusSum)
    }

    /// Runs both sides, alternating, and assembles the report.
    public func run() -> BenchReport {
        _ = measureOurs()  // warm-up (the peer process warms up itself)
        var ours: [Measurement] = []
        var peer: [Measurement] = []
        var failure: String?
        let version = RustPeer.installedVersion(of: "vm-superio")
        if let version {
            let program = RustPeer(
                name: "swift-vmm-serial-bench", dependencies: ["vm-superio": "=\(version)"],
                mainSource: Self.rustSource)
            do {
                try program.withBinary { binary in
                    for _ in 0..<rounds {
                        ours.append(measureOurs())
                        let output = try RustPeer.run(binary, arguments: [String(bytes), "1"])
                        guard let measurement = Self.parsePeer(output) else {
                            throw RustPeerError("unexpected output from the vm-superio program: \(output)")
                        }
                        peer.append(measurement)
                    }
                }
            } catch {
                failure = "\(error)"
            }
        } else {
            failure = "librust-vm-superio-dev is not installed (apt-get install librust-vm-superio-dev)"
        }
        while ours.count < rounds { ours.append(measureOurs()) }
        return report(ours: ours, peer: peer, version: version, failure: failure)
    }

    /// Turns the rounds into a ``BenchReport``: best round per side, medians and
    /// consistency checks in the notes.
    func report(ours: [Measurement], peer: [Measurement], version: String?, failure: String?) -> BenchReport {
        func rate(_ value: Double) -> String { String(format: "%.0f", value) }
        let oursMedian = BenchEnvironment.median(ours.map(\.bytesPerSecond))
        let peerMedian = peer.isEmpty ? nil : BenchEnvironment.median(peer.map(\.bytesPerSecond))
        let expected = expectedChecksum
        var notes = [
            "\(bytes) bytes per run, \(ours.count) alternating rounds, median round per side, bytes per thread "
                + "CPU second; per byte: LSR read + THR write, IIR read every 16 bytes, THRE interrupts enabled",
            "ours: VMSuperIO.Serial in this \(BenchEnvironment.buildConfiguration) build of vmm-tools; peer: cargo "
                + "build --release (opt-level 3, \(RustPeer.toolchain)) against /usr/share/cargo/registry",
            "best rounds: ours \(rate(ours.map(\.bytesPerSecond).max() ?? 0)), peer "
                + "\(peer.isEmpty ? "n/a" : rate(peer.map(\.bytesPerSecond).max() ?? 0)) bytes/s",
        ]
        if let first = ours.first {
            notes.append(
                "interrupts per run: ours \(first.interrupts), peer \(peer.first.map { String($0.interrupts) } ?? "n/a")"
            )
        }
        if ours.contains(where: { $0.checksum != expected }) {
            notes.append("ours: wrong checksum (expected \(expected))")
        }
        if peer.contains(where: { $0.checksum != expected }) {
            notes.append("peer: wrong checksum (expected \(expected))")
        }
        if let mine = ours.first, let theirs = peer.first,
            mine.statusSum != theirs.statusSum || mine.interrupts != theirs.interrupts
        {
            notes.append(
                "register answers differ: status sums \(mine.statusSum)/\(theirs.statusSum), "
                    + "interrupts \(mine.interrupts)/\(theirs.interrupts)")
        }
        if let failure { notes.append("peer not measured: \(failure)") }
        let result = BenchResult(
            name: "uart-transmit", unit: "bytes/s", ours: oursMedian, peer: peerMedian,
            peerName: "rust-vmm vm-superio \(version ?? "?")", higherIsBetter: true, goal: 1.0, notes: notes)
        return BenchReport(area: "serial", results: [result])
    }

    /// The peer program: the same sequence against `vm_superio::Serial`.
    static let rustSource = """
        // Generated by vmm-tools bench serial: vm-superio's transmit path, measured
        // with the register sequence the Swift side uses.
        use std::cell::Cell;
        use std::io::{self, Write};

        #[repr(C)]
        struct Timespec { tv_sec: i64, tv_nsec: i64 }
        extern "C" { fn clock_gettime(clock: i32, spec: *mut Timespec) -> i32; }
        const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

        /// CPU seconds of this thread, like the Swift side measures.
        fn thread_cpu_seconds() -> f64 {
            let mut spec = Timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: `spec` is a live local laid out like the C timespec (two i64 on 64-bit Linux), all it writes.
            unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut spec) };
            spec.tv_sec as f64 + spec.tv_nsec as f64 / 1e9
        }
        use vm_superio::{Serial, Trigger};

        struct CountingTrigger(Cell<u64>);
        impl Trigger for CountingTrigger {
            type E = ();
            fn trigger(&self) -> Result<(), ()> {
                self.0.set(self.0.get() + 1);
                Ok(())
            }
        }

        struct CountingSink { count: u64, sum: u64 }
        impl Write for CountingSink {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                for b in buf { self.sum = self.sum.wrapping_add(*b as u64); }
                self.count += buf.len() as u64;
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> { Ok(()) }
        }

        fn main() {
            let args: Vec<String> = std::env::args().collect();
            let bytes: usize = args[1].parse().unwrap();
            let runs: usize = args[2].parse().unwrap();
            let mut rates = Vec::new();
            let mut checksum = 0u64;
            let mut interrupts = 0u64;
            let mut status_sum = 0u64;
            for run in 0..=runs {
                let mut sink = CountingSink { count: 0, sum: 0 };
                // `&mut W` is a Write too: the sink stays ours to read after the run.
                let mut serial = Serial::new(CountingTrigger(Cell::new(0)), &mut sink);
                serial.write(3, 0x03).unwrap();
                serial.write(2, 0x01).unwrap();
                serial.write(1, 0x02).unwrap();
                let mut status = 0u64;
                let start = thread_cpu_seconds();
                for index in 0..bytes {
                    status = status.wrapping_add(serial.read(5) as u64);
                    serial.write(0, (index % 95 + 32) as u8).unwrap();
                    if index & 15 == 15 { status = status.wrapping_add(serial.read(2) as u64); }
                }
                let seconds = thread_cpu_seconds() - start;
                if run > 0 { rates.push(bytes as f64 / seconds); }
                interrupts = serial.interrupt_evt().0.get();
                drop(serial);
                checksum = sink.sum;
                status_sum = status;
            }
            rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let middle = rates.len() / 2;
            let median = if rates.len() % 2 == 1 { rates[middle] } else { (rates[middle - 1] + rates[middle]) / 2.0 };
            println!(
                "bytes_per_second={} checksum={} interrupts={} status_sum={}",
                median, checksum, interrupts, status_sum
            );
        }
        """
}

/// Counts raised interrupts (the benchmark's interrupt line).
final class CountingBenchTrigger: InterruptTrigger {
    var raises: UInt64 = 0
    var mode: TriggerMode { .edge }
    func raise() { raises &+= 1 }
    func lower() {}
}

/// Counts and sums transmitted bytes (the benchmark's sink).
struct CountingBenchSink: SerialSink {
    var count: UInt64 = 0
    var sum: UInt64 = 0
    mutating func write(_ byte: UInt8) -> Bool {
        count &+= 1
        sum &+= UInt64(byte)
        return true
    }
}
