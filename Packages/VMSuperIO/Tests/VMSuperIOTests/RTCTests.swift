// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMSuperIO

private typealias RTC<C: WallClock> = CMOSRTC<C, CountingTrigger>

private func bcd(_ value: Int) -> UInt8 { UInt8((value / 10) << 4 | value % 10) }

private extension CMOSRTC {
    mutating func register(_ index: UInt8) -> UInt8 {
        write(offset: Self.indexOffset, value: index)
        return read(offset: Self.dataOffset)
    }
    mutating func setRegister(_ index: UInt8, _ value: UInt8) {
        write(offset: Self.indexOffset, value: index)
        write(offset: Self.dataOffset, value: value)
    }
}

/// The host's broken-down UTC time according to glibc.
private func hostUTC(_ seconds: Int64) -> tm {
    var time = time_t(seconds)
    var result = tm()
    gmtime_r(&time, &result)
    return result
}

/// The tests that compare against the host's real clock and glibc; the rest of
/// the RTC tests are portable cases (VMSuperIOPortableTests).
@Suite struct CMOSRTCTests {
    @Test func readsTheHostTimeInBCD() {
        var rtc = RTC(clock: HostClock(), interrupt: CountingTrigger())
        for _ in 0..<3 {  // retried if a second boundary falls between the reads
            while rtc.register(0x0a) & 0x80 != 0 {}
            let before = HostClock().now().seconds
            let fields = (0..<10).map { rtc.register(UInt8($0)) }
            let century = rtc.register(0x32)
            let after = HostClock().now().seconds
            guard before == after else { continue }
            let host = hostUTC(before)
            #expect(fields[0] == bcd(Int(host.tm_sec)))
            #expect(fields[2] == bcd(Int(host.tm_min)))
            #expect(fields[4] == bcd(Int(host.tm_hour)))
            #expect(fields[6] == bcd(Int(host.tm_wday) + 1))
            #expect(fields[7] == bcd(Int(host.tm_mday)))
            #expect(fields[8] == bcd(Int(host.tm_mon) + 1))
            #expect(fields[9] == bcd(Int(host.tm_year + 1900) % 100))
            #expect(century == bcd(Int(host.tm_year + 1900) / 100))
            return
        }
        Issue.record("could not read a consistent time in three tries")
    }

    @Test func civilTimeMatchesGlibc() {
        var seconds: Int64 = -2_208_988_800  // 1900-01-01
        while seconds < 4_102_444_800 {  // 2100-01-01
            let host = hostUTC(seconds)
            let date = CivilTime(secondsSinceEpoch: seconds)
            #expect(date.year == Int(host.tm_year) + 1900)
            #expect(date.month == Int(host.tm_mon) + 1)
            #expect(date.day == Int(host.tm_mday))
            #expect(date.hour == Int(host.tm_hour))
            #expect(date.weekday == Int(host.tm_wday) + 1)
            #expect(date.secondsSinceEpoch == seconds)
            seconds += 86_400 * 37 + 3_599
        }
    }
}

@Suite struct PL031Tests {
    @Test func counterIsTheHostTime() {
        var rtc = PL031(clock: HostClock(), interrupt: CountingTrigger())
        let host = UInt32(truncatingIfNeeded: time(nil))
        let counter = rtc.read(offset: PL031<HostClock, CountingTrigger>.dataRegister)
        #expect(counter &- host <= 1)
    }
}
