// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// The PC's MC146818-compatible CMOS real-time clock at ports 0x70 (index, bit 7
/// masks NMI) and 0x71 (data): time and date in BCD or binary, 12- or 24-hour
/// mode, the update-in-progress flag, alarm registers with "don't care" values,
/// update-ended and alarm interrupts, the century byte (0x32) and the rest of the
/// 128 bytes of CMOS RAM.
///
/// Time comes from a ``WallClock``; the guest setting the clock (SET bit, write
/// the fields, clear SET) stores an offset to the host time, never touching the
/// host. Interrupt flags are evaluated when register C is read and whenever the
/// VMM calls ``poll()`` (from a timer, while the guest has alarm or update
/// interrupts enabled). The periodic interrupt (rate in register A) is not modelled.
///
/// ```swift
/// var rtc = CMOSRTC(clock: HostClock(), interrupt: irq8)
/// rtc.write(offset: 0, value: 0x00)   // select seconds
/// let seconds = rtc.read(offset: 1)   // BCD seconds of the host time
/// ```
public struct CMOSRTC<Clock: WallClock, Trigger: InterruptTrigger> {
    /// Offset of the index port (0x70) in the device's range.
    public static var indexOffset: UInt8 { 0 }
    /// Offset of the data port (0x71).
    public static var dataOffset: UInt8 { 1 }

    // Register indexes.
    static var seconds: Int { 0x00 }
    static var secondsAlarm: Int { 0x01 }
    static var minutes: Int { 0x02 }
    static var minutesAlarm: Int { 0x03 }
    static var hours: Int { 0x04 }
    static var hoursAlarm: Int { 0x05 }
    static var weekday: Int { 0x06 }
    static var dayOfMonth: Int { 0x07 }
    static var month: Int { 0x08 }
    static var year: Int { 0x09 }
    static var registerA: Int { 0x0a }
    static var registerB: Int { 0x0b }
    static var registerC: Int { 0x0c }
    static var registerD: Int { 0x0d }
    static var century: Int { 0x32 }
    // Register A/B/C bits.
    static var updateInProgress: UInt8 { 0x80 }
    static var setMode: UInt8 { 0x80 }
    static var alarmInterruptEnable: UInt8 { 0x20 }
    static var updateInterruptEnable: UInt8 { 0x10 }
    static var binaryMode: UInt8 { 0x04 }
    static var twentyFourHour: UInt8 { 0x02 }
    static var interruptRequest: UInt8 { 0x80 }
    static var alarmFlag: UInt8 { 0x20 }
    static var updateFlag: UInt8 { 0x10 }
    /// The update cycle starts this long before each second (datasheet: 244 µs).
    static var updateLeadNanoseconds: UInt32 { 244_000 }

    /// The host clock the device reads.
    public private(set) var clock: Clock
    /// The interrupt output (IRQ 8 on a PC).
    public private(set) var interrupt: Trigger
    /// Whether the guest masked NMI through bit 7 of the index port.
    public private(set) var nmiMasked = false
    /// Guest attempts to set an impossible date (kept out of the clock).
    public private(set) var rejectedTimeWrites = 0
    /// Seconds between the guest's clock and the host's (0 until the guest sets it).
    public private(set) var guestOffsetSeconds: Int64 = 0

    private var ram = [UInt8](repeating: 0, count: 128)
    private var index = 0
    private var lastCheckedSecond: Int64
    private var asserted = false

    /// Creates the clock in 24-hour BCD mode running from `clock`'s time.
    public init(clock: Clock, interrupt: Trigger) {
        self.clock = clock
        self.interrupt = interrupt
        lastCheckedSecond = clock.now().seconds
        ram[Self.registerA] = 0x26  // 32.768 kHz time base, 1024 Hz rate
        ram[Self.registerB] = Self.twentyFourHour
        ram[Self.registerD] = 0x80  // valid RAM and time
    }

    /// Stores a CMOS RAM byte the VMM provides (memory sizes, boot flags); the
    /// clock and status registers (0x00-0x0D) are not settable this way.
    public mutating func storeRAM(_ value: UInt8, at offset: Int) {
        guard (0x0e..<128).contains(offset) else { return }
        ram[offset] = value
    }

    /// Handles a guest read: the data port returns the selected register; the
    /// index port is write-only and reads 0xFF.
    public mutating func read(offset: UInt8) -> UInt8 {
        guard offset == Self.dataOffset else { return 0xff }
        switch index {
        case Self.seconds, Self.minutes, Self.hours, Self.weekday, Self.dayOfMonth, Self.month, Self.year,
            Self.century:
            if isSetting { return ram[index] }
            return timeField(index, of: CivilTime(secondsSinceEpoch: guestNow.seconds))
        case Self.registerA:
            var value = ram[Self.registerA] & 0x7f
            if updateInProgress { value |= Self.updateInProgress }
            return value
        case Self.registerC:
            refreshFlags()
            let value = ram[Self.registerC]
            ram[Self.registerC] = 0
            updateInterrupt()
            return value
        default:
            return ram[index]
        }
    }

    /// Handles a guest write to the index or data port.
    public mutating func write(offset: UInt8, value: UInt8) {
        if offset == Self.indexOffset {
            nmiMasked = value & 0x80 != 0
            index = Int(value & 0x7f)
            return
        }
        guard offset == Self.dataOffset else { return }
        switch index {
        case Self.seconds, Self.minutes, Self.hours, Self.weekday, Self.dayOfMonth, Self.month, Self.year,
            Self.century:
            if isSetting {
                ram[index] = value
            } else {
                // Outside SET mode a write changes one field of the running clock.
                var fields = timeRegisters(of: guestNow.seconds)
                fields[index] = value
                commitTime(from: fields)
            }
        case Self.registerA:
            ram[Self.registerA] = value & 0x7f  // UIP is read-only
        case Self.registerB:
            let wasSetting = isSetting
            var newValue = value
            if newValue & Self.setMode != 0 {
                newValue &= ~Self.updateInterruptEnable  // SET clears UIE (datasheet)
                if !wasSetting {
                    // Freeze the time fields so the guest edits a stable copy.
                    let fields = timeRegisters(of: guestNow.seconds)
                    for register in Self.timeIndexes { ram[register] = fields[register] }
                }
            }
            ram[Self.registerB] = newValue
            if wasSetting && !isSetting { commitTime(from: ram) }
            updateInterrupt()
        case Self.registerC, Self.registerD:
            break  // read-only
        default:
            ram[index] = value
        }
    }

    /// Evaluates alarm and update-ended events up to the current time and raises
    /// the interrupt if an enabled one happened.
    public mutating func poll() {
        refreshFlags()
        updateInterrupt()
    }

    // MARK: - Internals

    static var timeIndexes: [Int] {
        [seconds, minutes, hours, weekday, dayOfMonth, month, year, century]
    }

    private var isSetting: Bool { ram[Self.registerB] & Self.setMode != 0 }
    private var isBinary: Bool { ram[Self.registerB] & Self.binaryMode != 0 }
    private var is24Hour: Bool { ram[Self.registerB] & Self.twentyFourHour != 0 }

    private var guestNow: WallClockTime {
        let host = clock.now()
        return WallClockTime(seconds: host.seconds &+ guestOffsetSeconds, nanoseconds: host.nanoseconds)
    }

    private var updateInProgress: Bool {
        // Updates run only with the normal 32.768 kHz divider and SET clear.
        guard ram[Self.registerA] & 0x70 == 0x20, !isSetting else { return false }
        return clock.now().nanoseconds >= 1_000_000_000 - Self.updateLeadNanoseconds
    }

    private func encode(_ value: Int) -> UInt8 {
        isBinary ? UInt8(truncatingIfNeeded: value) : UInt8(truncatingIfNeeded: (value / 10) << 4 | value % 10)
    }

    private func decode(_ value: UInt8) -> Int? {
        if isBinary { return Int(value) }
        let high = Int(value >> 4)
        let low = Int(value & 0x0f)
        guard high < 10, low < 10 else { return nil }
        return high * 10 + low
    }

    private func encodeHour(_ hour: Int) -> UInt8 {
        if is24Hour { return encode(hour) }
        let twelve = hour % 12 == 0 ? 12 : hour % 12
        return encode(twelve) | (hour >= 12 ? 0x80 : 0)
    }

    private func decodeHour(_ value: UInt8) -> Int? {
        if is24Hour { return decode(value) }
        guard let twelve = decode(value & 0x7f), (1...12).contains(twelve) else { return nil }
        return twelve % 12 + (value & 0x80 != 0 ? 12 : 0)
    }

    /// The encoded value of time register `index` (a ``timeIndexes`` member) for `date`.
    private func timeField(_ index: Int, of date: CivilTime) -> UInt8 {
        switch index {
        case Self.seconds: return encode(date.second)
        case Self.minutes: return encode(date.minute)
        case Self.hours: return encodeHour(date.hour)
        case Self.weekday: return encode(date.weekday)
        case Self.dayOfMonth: return encode(date.day)
        case Self.month: return encode(date.month)
        case Self.year: return encode(date.year % 100)
        default: return encode(date.year / 100)  // century
        }
    }

    /// The 128-byte register file with the time fields of `seconds` filled in.
    private func timeRegisters(of seconds: Int64) -> [UInt8] {
        let date = CivilTime(secondsSinceEpoch: seconds)
        var fields = ram
        for index in Self.timeIndexes { fields[index] = timeField(index, of: date) }
        return fields
    }

    /// Adopts the time in `fields` as the guest's clock; an impossible date
    /// (a hostile or buggy guest) is refused and counted, the clock keeps running.
    private mutating func commitTime(from fields: [UInt8]) {
        guard let second = decode(fields[Self.seconds]), let minute = decode(fields[Self.minutes]),
            let hour = decodeHour(fields[Self.hours]), let day = decode(fields[Self.dayOfMonth]),
            let month = decode(fields[Self.month]), let year = decode(fields[Self.year]),
            let century = decode(fields[Self.century])
        else {
            rejectedTimeWrites += 1
            return
        }
        let date = CivilTime(
            year: century * 100 + year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard date.isValid, year < 100 else {
            rejectedTimeWrites += 1
            return
        }
        guestOffsetSeconds = date.secondsSinceEpoch - clock.now().seconds
        lastCheckedSecond = guestNow.seconds
    }

    private func alarmMatches(_ seconds: Int64) -> Bool {
        let date = CivilTime(secondsSinceEpoch: seconds)
        // An alarm byte with its two top bits set matches any value.
        func matches(_ alarm: Int, _ current: Int) -> Bool {
            ram[alarm] & 0xc0 == 0xc0 || ram[alarm] == timeField(current, of: date)
        }
        return matches(Self.secondsAlarm, Self.seconds) && matches(Self.minutesAlarm, Self.minutes)
            && matches(Self.hoursAlarm, Self.hours)
    }

    private mutating func refreshFlags() {
        guard !isSetting else { return }
        let now = guestNow.seconds
        guard now > lastCheckedSecond else {
            lastCheckedSecond = min(lastCheckedSecond, now)
            return
        }
        var flags = ram[Self.registerC] | Self.updateFlag
        // Alarms repeat at most daily: a longer gap needs no more than a day's scan.
        var second = max(lastCheckedSecond + 1, now - 86_399)
        while second <= now && flags & Self.alarmFlag == 0 {
            if alarmMatches(second) { flags |= Self.alarmFlag }
            second += 1
        }
        lastCheckedSecond = now
        let enabled = ram[Self.registerB] & (Self.alarmInterruptEnable | Self.updateInterruptEnable)
        if flags & enabled & (Self.alarmFlag | Self.updateFlag) != 0 { flags |= Self.interruptRequest }
        ram[Self.registerC] = flags
    }

    private mutating func updateInterrupt() {
        let active = ram[Self.registerC] & Self.interruptRequest != 0
        if active == asserted { return }
        asserted = active
        if active { interrupt.raise() } else { interrupt.lower() }
    }
}
