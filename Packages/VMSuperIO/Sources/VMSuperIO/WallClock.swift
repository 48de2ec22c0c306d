// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A point in time as seconds and nanoseconds since 1970-01-01 00:00:00 UTC.
///
/// ```swift
/// let instant = WallClockTime(seconds: 1_700_000_000, nanoseconds: 0)
/// ```
public struct WallClockTime: Sendable, Equatable, Comparable {
    /// Whole seconds since the Unix epoch (negative before 1970).
    public var seconds: Int64
    /// Nanoseconds into the current second, 0..<1_000_000_000.
    public var nanoseconds: UInt32

    /// Creates a time; nanoseconds beyond a second are folded into `seconds`.
    public init(seconds: Int64, nanoseconds: UInt32 = 0) {
        self.seconds = seconds + Int64(nanoseconds / 1_000_000_000)
        self.nanoseconds = nanoseconds % 1_000_000_000
    }

    /// Orders by seconds, then nanoseconds.
    public static func < (lhs: WallClockTime, rhs: WallClockTime) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }
}

/// The host's wall clock as the RTC models read it; the VMM implements it over
/// `clock_gettime(CLOCK_REALTIME)` (or anything else: a test clock, a clock
/// frozen for a snapshot), which keeps the device models free of system calls.
///
/// ```swift
/// struct HostClock: WallClock {
///     func now() -> WallClockTime {
///         var ts = timespec()
///         clock_gettime(CLOCK_REALTIME, &ts)
///         return WallClockTime(seconds: Int64(ts.tv_sec), nanoseconds: UInt32(ts.tv_nsec))
///     }
/// }
/// ```
public protocol WallClock {
    /// The current time.
    func now() -> WallClockTime
}

/// A calendar date and time of day in UTC (proleptic Gregorian calendar).
///
/// ```swift
/// let date = CivilTime(secondsSinceEpoch: 0)  // 1970-01-01 00:00:00, a Thursday
/// ```
public struct CivilTime: Sendable, Equatable {
    /// Full year, e.g. 2026.
    public var year: Int
    /// Month 1...12.
    public var month: Int
    /// Day of the month 1...31.
    public var day: Int
    /// Hour 0...23.
    public var hour: Int
    /// Minute 0...59.
    public var minute: Int
    /// Second 0...59.
    public var second: Int

    /// Creates a date from its fields (not validated; see ``isValid``).
    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        (self.year, self.month, self.day) = (year, month, day)
        (self.hour, self.minute, self.second) = (hour, minute, second)
    }

    /// The UTC date of `secondsSinceEpoch`.
    public init(secondsSinceEpoch: Int64) {
        let days = Self.floorDivide(secondsSinceEpoch, 86_400)
        let secondOfDay = Int(secondsSinceEpoch - days * 86_400)
        (hour, minute, second) = (secondOfDay / 3600, secondOfDay / 60 % 60, secondOfDay % 60)
        // Days to civil date, counting in 400-year eras that start on March 1st
        // so the leap day is the last day of the counted year.
        let shifted = days + 719_468
        let era = Self.floorDivide(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153  // 0 = March
        day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0)
    }

    /// Seconds since the Unix epoch of this date.
    public var secondsSinceEpoch: Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = Self.floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return days * 86_400 + Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)
    }

    /// Day of the week, 1 = Sunday ... 7 = Saturday (the MC146818 convention).
    public var weekday: Int {
        let days = Self.floorDivide(secondsSinceEpoch, 86_400)
        // 1970-01-01 was a Thursday (5).
        return Int((days + 4) % 7 + 7) % 7 + 1
    }

    /// Whether every field is in range for its month and year.
    public var isValid: Bool {
        guard (1...12).contains(month), (0...23).contains(hour), (0...59).contains(minute),
            (0...59).contains(second)
        else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return (1...lengths[month - 1]).contains(day)
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    }
}
