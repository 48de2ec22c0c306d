// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// `Duration` in the whole-number units that system calls and counters take.
///
/// One definition, so that every package rounds and saturates the same way: a timeout
/// handed to `poll` or `epoll_wait` is rounded up (the wait never ends early), and a
/// duration too large for 64 bits saturates instead of trapping.
extension Duration {
    /// Whole nanoseconds, truncated toward zero. Durations outside `Int64`'s range (about
    /// ±292 years) saturate at `Int64.min` or `Int64.max`.
    ///
    /// ```swift
    /// Duration.microseconds(1.5).wholeNanoseconds    // 1_500
    /// Duration.seconds(Int64.max).wholeNanoseconds   // Int64.max
    /// ```
    public var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return Self.saturating(seconds, times: 1_000_000_000, plus: attoseconds / 1_000_000_000)
    }

    /// Whole milliseconds, rounded toward positive infinity, so that a wait of that many
    /// milliseconds lasts at least this long. Saturates like ``wholeNanoseconds``.
    ///
    /// ```swift
    /// Duration.microseconds(1).wholeMillisecondsRoundedUp    // 1
    /// Duration.milliseconds(-1.5).wholeMillisecondsRoundedUp // -1
    /// ```
    public var wholeMillisecondsRoundedUp: Int64 {
        let (seconds, attoseconds) = components
        let perMillisecond: Int64 = 1_000_000_000_000_000
        // `components` gives both parts the sign of the duration; Int64 division truncates
        // toward zero, which already rounds a negative part up.
        let part = attoseconds > 0 ? (attoseconds + perMillisecond - 1) / perMillisecond : attoseconds / perMillisecond
        return Self.saturating(seconds, times: 1000, plus: part)
    }

    /// `whole * scale + part`, saturated in the direction of the overflow.
    private static func saturating(_ whole: Int64, times scale: Int64, plus part: Int64) -> Int64 {
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: scale)
        if overflow { return whole < 0 ? .min : .max }
        let (sum, carried) = scaled.addingReportingOverflow(part)
        if carried { return part < 0 ? .min : .max }
        return sum
    }
}
