// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Glibc
import Synchronization
import VMDevice
import VMMSysUtil
import VMSuperIO

/// A VMSuperIO device's interrupt output wired to one interrupt of a VMDevice
/// `InterruptSourceGroup` (for COM1: the VM's legacy interrupt group on pin 4; on KVM, an irqfd on GSI 4).
///
/// ```swift
/// let group = try vm.createLegacyInterruptGroup(lines: [LegacyInterruptLine(pin: 4)])
/// try group.enable()
/// let line = GroupInterruptLine(group: group, index: 0)
/// line.raise()
/// ```
public final class GroupInterruptLine: InterruptTrigger, Sendable {
    /// The group the interrupt belongs to.
    public let group: any InterruptSourceGroup
    /// Which interrupt of the group.
    public let index: Int
    private let failures = Atomic<Int>(0)

    /// Wires to interrupt `index` of `group`.
    public init(group: any InterruptSourceGroup, index: Int) {
        self.group = group
        self.index = index
    }

    /// Raises the group refused (disabled, or its backend failed); the guest cannot block a device through them.
    public var failedRaises: Int { failures.load(ordering: .relaxed) }
    /// Edge: the IOAPIC pins of ISA devices are edge-triggered.
    public var mode: TriggerMode { .edge }
    /// Injects one interrupt.
    public func raise() {
        do { try group.trigger(index: index) } catch { failures.add(1, ordering: .relaxed) }
    }
    /// Nothing to do for an edge line.
    public func lower() {}
}

/// A line with nothing behind it (the i8042 mouse port, the RTC alarm when unused).
public final class UnconnectedLine: InterruptTrigger, Sendable {
    /// Creates one.
    public init() {}
    /// Edge.
    public var mode: TriggerMode { .edge }
    /// Ignored.
    public func raise() {}
    /// Ignored.
    public func lower() {}
}

/// The host's real-time clock (CLOCK_REALTIME) for the CMOS RTC.
public struct HostWallClock: WallClock {
    /// Creates one.
    public init() {}
    /// The current time.
    public func now() -> WallClockTime {
        var spec = timespec()
        // SAFETY: `spec` is a local timespec, exactly what clock_gettime fills.
        unsafe clock_gettime(CLOCK_REALTIME, &spec)
        return WallClockTime(seconds: Int64(spec.tv_sec), nanoseconds: UInt32(spec.tv_nsec))
    }
}

/// Where the guest's serial output goes: bytes to a file descriptor, lines to a
/// ``ConsoleWatch``, and (in command mode) only the command's own output.
///
/// ```swift
/// let console = ConsoleOutput(descriptor: STDOUT_FILENO, mode: .everything)
/// console.write(0x41)
/// ```
public final class ConsoleOutput: @unchecked Sendable {
    // @unchecked: called with the serial device's lock held (one writer at a time);
    // readers take `lock` for a consistent snapshot.
    /// What reaches the output descriptor.
    public enum Mode: Equatable, Sendable {
        /// Every byte the guest writes.
        case everything
        /// Only lines between the ready marker and the exit marker (`--command`).
        case commandOutput
        /// Nothing (benchmarks, tests that only want the watch).
        case silent
    }

    private let descriptor: Int32
    private let mode: Mode
    private let lock = NSLock()
    private var watch = ConsoleWatch()
    private var pending: [UInt8] = []
    private var transcript: [UInt8] = []
    /// Keep a copy of everything (tests); bounded by ``transcriptLimit``.
    public let keepsTranscript: Bool
    /// The transcript's size limit in bytes.
    public static let transcriptLimit = 1 << 20
    /// Called once per completed line, with the watch state after it (vCPU thread).
    public var onLine: (@Sendable (String, ConsoleWatch) -> Void)?

    /// Output to `descriptor` filtered by `mode`.
    public init(descriptor: Int32, mode: Mode, keepsTranscript: Bool = false) {
        self.descriptor = descriptor
        self.mode = mode
        self.keepsTranscript = keepsTranscript
    }

    /// The console state so far.
    public var state: ConsoleWatch { lock.withLock { watch } }
    /// Everything the guest wrote (when ``keepsTranscript``).
    public var text: String { lock.withLock { String(decoding: transcript, as: UTF8.self) } }

    /// One byte from the UART.
    public func write(_ byte: UInt8) {
        let (line, snapshot): (String?, ConsoleWatch) = lock.withLock {
            if keepsTranscript && transcript.count < Self.transcriptLimit { transcript.append(byte) }
            let wasReady = watch.sawReady
            let line = watch.consume(byte)
            switch mode {
            case .everything:
                emit([byte])
            case .commandOutput:
                // The command's lines only: after the ready marker, before the exit marker, no kernel messages.
                if let line, wasReady, !line.contains(ConsoleWatch.exitMarker), watch.commandStatus == nil,
                    !ConsoleWatch.isKernelMessage(line)
                {
                    emit(Array((line + "\n").utf8))
                }
            case .silent:
                break
            }
            return (line, watch)
        }
        if let line, let onLine { onLine(line, snapshot) }
    }

    private func emit(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            // SAFETY: write(2) reads at most raw.count bytes of the slice's own buffer.
            let written = unsafe bytes[offset...].withUnsafeBytes { raw in
                unsafe Glibc.write(descriptor, raw.baseAddress, raw.count)
            }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }  // output closed: keep running, the watch still works
            offset += written
        }
    }
}

/// The sink the 16550A model writes through.
public struct ConsoleSink: SerialSink {
    let output: ConsoleOutput
    /// Accepts every byte (the host side never applies back-pressure here).
    public mutating func write(_ byte: UInt8) -> Bool {
        output.write(byte)
        return true
    }
}

/// COM1: the VMSuperIO 16550A behind a lock, on the port bus at 0x3f8.
public final class SerialPortDevice: BusDevice, @unchecked Sendable {
    // @unchecked: all state is behind `lock`.
    private let lock = NSLock()
    private var uart: Serial<GroupInterruptLine, ConsoleSink>

    /// A UART raising `line` and printing to `output`.
    public init(line: GroupInterruptLine, output: ConsoleOutput) {
        uart = Serial(
            interrupt: line, sink: ConsoleSink(output: output), configuration: SerialConfiguration(fifoCapacity: 64))
    }

    /// Register read.
    public func read(offset: UInt64, size: Int) -> UInt64 {
        lock.withLock { UInt64(uart.read(offset: UInt8(truncatingIfNeeded: offset))) }
    }
    /// Register write.
    public func write(offset: UInt64, size: Int, value: UInt64) {
        lock.withLock { uart.write(offset: UInt8(truncatingIfNeeded: offset), value: UInt8(truncatingIfNeeded: value)) }
    }
    /// Host input (keyboard); returns how many bytes the receive FIFO took.
    public func enqueueInput(_ bytes: [UInt8]) -> Int { lock.withLock { uart.enqueueInput(bytes) } }
    /// The guest-visible state, for snapshots.
    public var state: SerialState { lock.withLock { uart.state } }
    /// Restores a saved state (a state that does not fit this port is refused and changes nothing).
    public func restore(_ state: SerialState) throws(SerialStateError) {
        lock.lock()
        defer { lock.unlock() }
        try uart.restore(state)
    }
}

/// The i8042 at 0x60/0x64; a reset pulse calls `onReset`.
public final class I8042Device: BusDevice, @unchecked Sendable {
    // @unchecked: all state is behind `lock`.
    private let lock = NSLock()
    private var controller: I8042<UnconnectedLine>
    private let onReset: @Sendable () -> Void

    /// A controller whose reset line calls `onReset`.
    public init(onReset: @escaping @Sendable () -> Void) {
        controller = I8042(keyboardInterrupt: UnconnectedLine(), auxInterrupt: UnconnectedLine())
        self.onReset = onReset
    }

    /// The bus range starts at 0x60 and spans 5 ports; 0x60 is data, 0x64 command/status.
    public func read(offset: UInt64, size: Int) -> UInt64 {
        guard offset == 0 || offset == 4 else { return 0xff }
        return lock.withLock { UInt64(controller.read(offset: UInt8(offset))) }
    }
    /// Register write; a reset pulse stops the VM as a reboot.
    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard offset == 0 || offset == 4 else { return }
        let event = lock.withLock { controller.write(offset: UInt8(offset), value: UInt8(truncatingIfNeeded: value)) }
        if event == .systemReset { onReset() }
    }
}

/// The CMOS RTC at 0x70/0x71, reading the host's clock.
public final class RTCDevice: BusDevice, @unchecked Sendable {
    // @unchecked: all state is behind `lock`.
    private let lock = NSLock()
    private var rtc = CMOSRTC(clock: HostWallClock(), interrupt: UnconnectedLine())

    /// Creates the RTC.
    public init() {}
    /// Index/data read.
    public func read(offset: UInt64, size: Int) -> UInt64 {
        lock.withLock { UInt64(rtc.read(offset: UInt8(truncatingIfNeeded: offset))) }
    }
    /// Index/data write.
    public func write(offset: UInt64, size: Int, value: UInt64) {
        lock.withLock { rtc.write(offset: UInt8(truncatingIfNeeded: offset), value: UInt8(truncatingIfNeeded: value)) }
    }
}

/// The FADT's sleep control/status registers (0x3c0/0x3c1): writing `SLP_EN` with
/// the `\_S5` sleep type powers the guest off.
public final class ACPISleepDevice: BusDevice, @unchecked Sendable {
    /// `SLP_EN` in the sleep control register.
    public static let sleepEnable: UInt64 = 1 << 5
    private let s5Type: UInt64
    private let onPowerOff: @Sendable () -> Void

    /// A device that calls `onPowerOff` on an S5 request.
    public init(s5SleepType: UInt8, onPowerOff: @escaping @Sendable () -> Void) {
        s5Type = UInt64(s5SleepType)
        self.onPowerOff = onPowerOff
    }
    /// Status reads: nothing pending.
    public func read(offset: UInt64, size: Int) -> UInt64 { 0 }
    /// `SLP_TYP << 2 | SLP_EN` on the control register requests the sleep state.
    public func write(offset: UInt64, size: Int, value: UInt64) {
        if offset == 0, value & Self.sleepEnable != 0, (value >> 2) & 7 == s5Type { onPowerOff() }
    }
}

/// Firecracker's boot-timer device: a guest write of ``magic`` logs the time since
/// the VMM process started (the guest's init writes it with `devmem` when done booting).
public final class BootTimerDevice: BusDevice, @unchecked Sendable {
    /// The value that stops the timer.
    public static let magic: UInt64 = 123
    private let start: ContinuousClock.Instant
    private let report: @Sendable (Duration) -> Void

    /// A timer measuring from `start`.
    public init(start: ContinuousClock.Instant, report: @escaping @Sendable (Duration) -> Void) {
        self.start = start
        self.report = report
    }
    /// Reads see zero.
    public func read(offset: UInt64, size: Int) -> UInt64 { 0 }
    /// A write of the magic value reports the elapsed time.
    public func write(offset: UInt64, size: Int, value: UInt64) {
        if value & 0xff == Self.magic { report(ContinuousClock.now - start) }
    }
}

/// The VMM side of every vCPU's port-I/O and MMIO exits: two VMDevice buses.
/// Unclaimed ports read as all ones and ignore writes (an empty ISA bus).
public final class DeviceBuses: @unchecked Sendable {
    // @unchecked: the buses are thread-safe (VMDevice).
    /// Port I/O.
    public let pio = PioBus()
    /// MMIO.
    public let mmio = MmioBus()
    /// Creates empty buses.
    public init() {}
}
