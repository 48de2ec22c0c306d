// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Testing
import VMMSysUtil

@Suite("Duration units")
struct DurationUnitsTests {
    @Test("whole nanoseconds truncate toward zero and saturate at the Int64 bounds")
    func nanoseconds() {
        #expect(Duration.zero.wholeNanoseconds == 0)
        #expect(Duration.nanoseconds(1).wholeNanoseconds == 1)
        #expect(Duration.microseconds(1.5).wholeNanoseconds == 1_500)
        #expect(Duration.seconds(3).wholeNanoseconds == 3_000_000_000)
        #expect(Duration.nanoseconds(-7).wholeNanoseconds == -7)
        #expect(Duration.milliseconds(-1.5).wholeNanoseconds == -1_500_000)
        // Below a nanosecond: truncated toward zero on both sides.
        #expect((Duration.nanoseconds(5) / 2).wholeNanoseconds == 2)
        #expect((Duration.nanoseconds(-5) / 2).wholeNanoseconds == -2)
        // The largest representable count, then one second past it either way.
        #expect(Duration.nanoseconds(Int64.max).wholeNanoseconds == Int64.max)
        #expect(Duration.nanoseconds(Int64.min).wholeNanoseconds == Int64.min)
        #expect((Duration.nanoseconds(Int64.max) + .seconds(1)).wholeNanoseconds == Int64.max)
        #expect((Duration.nanoseconds(Int64.min) - .seconds(1)).wholeNanoseconds == Int64.min)
        #expect(Duration.seconds(Int64.max).wholeNanoseconds == Int64.max)
        #expect(Duration.seconds(Int64.min).wholeNanoseconds == Int64.min)
    }

    @Test("milliseconds round toward positive infinity and saturate at the Int64 bounds")
    func millisecondsRoundedUp() {
        #expect(Duration.zero.wholeMillisecondsRoundedUp == 0)
        #expect(Duration.nanoseconds(1).wholeMillisecondsRoundedUp == 1)
        #expect(Duration.milliseconds(1).wholeMillisecondsRoundedUp == 1)
        #expect((Duration.milliseconds(1) + .nanoseconds(1)).wholeMillisecondsRoundedUp == 2)
        #expect(Duration.seconds(2.0005).wholeMillisecondsRoundedUp == 2001)
        #expect((Duration.nanoseconds(1) / 1_000_000).wholeMillisecondsRoundedUp == 1)
        #expect(Duration.nanoseconds(-1).wholeMillisecondsRoundedUp == 0)
        #expect(Duration.milliseconds(-1.5).wholeMillisecondsRoundedUp == -1)
        #expect(Duration.seconds(-2).wholeMillisecondsRoundedUp == -2000)
        #expect(Duration.seconds(Int64.max / 1000).wholeMillisecondsRoundedUp == Int64.max / 1000 * 1000)
        #expect(Duration.seconds(Int64.max).wholeMillisecondsRoundedUp == Int64.max)
        #expect(Duration.seconds(Int64.min).wholeMillisecondsRoundedUp == Int64.min)
        // Whole milliseconds that fit but whose rounded-up part does not.
        let edge = Duration.milliseconds(Int64.max) + .nanoseconds(1)
        #expect(edge.wholeMillisecondsRoundedUp == Int64.max)
    }
}
