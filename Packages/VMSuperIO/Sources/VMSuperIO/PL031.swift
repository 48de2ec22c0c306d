// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// The Arm PrimeCell PL031 real-time clock (arm64 guests, `arm,pl031` in the
/// device tree): a 32-bit seconds counter running from a ``WallClock``, the load,
/// match and control registers, the masked match interrupt, and the PrimeCell
/// identification registers Linux's AMBA bus reads to bind the driver.
///
/// Registers are 32 bits wide; the VMM maps the 4 KiB window and passes offsets.
/// The match interrupt is evaluated on every access and when the VMM calls ``poll()``.
///
/// ```swift
/// var rtc = PL031(clock: HostClock(), interrupt: spi)
/// let seconds = rtc.read(offset: PL031.dataRegister)  // host time, seconds since 1970
/// ```
public struct PL031<Clock: WallClock, Trigger: InterruptTrigger> {
    /// RTCDR: the current counter (read only).
    public static var dataRegister: UInt64 { 0x000 }
    /// RTCMR: the match value.
    public static var matchRegister: UInt64 { 0x004 }
    /// RTCLR: loads the counter.
    public static var loadRegister: UInt64 { 0x008 }
    /// RTCCR: bit 0 starts the counter (it cannot be stopped).
    public static var controlRegister: UInt64 { 0x00c }
    /// RTCIMSC: bit 0 unmasks the match interrupt.
    public static var interruptMaskRegister: UInt64 { 0x010 }
    /// RTCRIS: raw match interrupt status.
    public static var rawInterruptStatusRegister: UInt64 { 0x014 }
    /// RTCMIS: masked interrupt status.
    public static var maskedInterruptStatusRegister: UInt64 { 0x018 }
    /// RTCICR: writing bit 0 clears the interrupt.
    public static var interruptClearRegister: UInt64 { 0x01c }
    /// Size of the register window.
    public static var windowSize: UInt64 { 0x1000 }
    static var identification: [UInt8] { [0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1] }

    /// The host clock the counter runs from.
    public private(set) var clock: Clock
    /// The interrupt output.
    public private(set) var interrupt: Trigger

    private var offsetSeconds: Int64 = 0
    private var loadValue: UInt32 = 0
    private var matchValue: UInt32 = 0
    private var interruptMask: UInt32 = 0
    private var rawStatus: UInt32 = 0
    private var lastCounter: UInt32
    private var asserted = false

    /// Creates a started RTC whose counter is the host's Unix time.
    public init(clock: Clock, interrupt: Trigger) {
        self.clock = clock
        self.interrupt = interrupt
        lastCounter = UInt32(truncatingIfNeeded: clock.now().seconds)
    }

    /// The counter value now (what RTCDR reads).
    public var counter: UInt32 { UInt32(truncatingIfNeeded: clock.now().seconds &+ offsetSeconds) }

    /// Handles a 32-bit guest read at `offset`; unknown offsets read 0.
    public mutating func read(offset: UInt64) -> UInt32 {
        checkMatch()
        switch offset {
        case Self.dataRegister: return counter
        case Self.matchRegister: return matchValue
        case Self.loadRegister: return loadValue
        case Self.controlRegister: return 1
        case Self.interruptMaskRegister: return interruptMask
        case Self.rawInterruptStatusRegister: return rawStatus
        case Self.maskedInterruptStatusRegister: return rawStatus & interruptMask
        case 0xfe0...0xffc where offset % 4 == 0:
            return UInt32(Self.identification[Int((offset - 0xfe0) / 4)])
        default: return 0
        }
    }

    /// Handles a 32-bit guest write at `offset`; read-only and unknown offsets are ignored.
    public mutating func write(offset: UInt64, value: UInt32) {
        checkMatch()
        switch offset {
        case Self.matchRegister:
            matchValue = value
        case Self.loadRegister:
            loadValue = value
            offsetSeconds = Int64(value) - clock.now().seconds
            lastCounter = value
        case Self.interruptMaskRegister:
            interruptMask = value & 1
        case Self.interruptClearRegister:
            rawStatus &= ~(value & 1)
        default:
            break
        }
        checkMatch()
    }

    /// Evaluates the match interrupt against the current time.
    public mutating func poll() { checkMatch() }

    private mutating func checkMatch() {
        let now = counter
        // Did the counter pass the match value since the last look? (wrapping-aware)
        if now != lastCounter && (matchValue &- lastCounter) &- 1 < now &- lastCounter {
            rawStatus = 1
        }
        lastCounter = now
        let active = rawStatus & interruptMask != 0
        if active == asserted { return }
        asserted = active
        if active { interrupt.raise() } else { interrupt.lower() }
    }
}
