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

@Suite struct CMOSRTCTests {
    /// What Linux's mc146818_get_time does: wait for UIP clear, read the fields, decode BCD.
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

    @Test func binaryAndTwelveHourModes() {
        // 2026-11-27 15:04:05 UTC, a Friday.
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))
        var rtc = RTC(clock: clock, interrupt: CountingTrigger())
        #expect(rtc.register(0x04) == 0x15)
        rtc.setRegister(0x0b, 0x02 | 0x04)  // 24 h, binary
        #expect(rtc.register(0x04) == 15)
        #expect(rtc.register(0x00) == 5)
        #expect(rtc.register(0x06) == 6)
        rtc.setRegister(0x0b, 0x00)  // 12 h, BCD: 3 PM
        #expect(rtc.register(0x04) == 0x80 | 0x03)
        rtc.setRegister(0x0b, 0x04)  // 12 h, binary
        #expect(rtc.register(0x04) == 0x80 | 3)
        clock.time.seconds -= 15 * 3600  // 00:04:05 is 12 AM
        #expect(rtc.register(0x04) == 12)
    }

    @Test func guestSetsItsClockWithoutTouchingTheHost() {
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))
        var rtc = RTC(clock: clock, interrupt: CountingTrigger())
        rtc.setRegister(0x0b, 0x82)  // SET, 24 h, BCD
        // While SET holds, the fields do not tick.
        clock.advance(seconds: 5)
        #expect(rtc.register(0x00) == 0x05)
        for (index, value) in [(0x00, 0x30), (0x02, 0x59), (0x04, 0x23), (0x07, 0x31), (0x08, 0x12), (0x09, 0x99)] {
            rtc.setRegister(UInt8(index), UInt8(value))
        }
        rtc.setRegister(0x32, 0x19)
        rtc.setRegister(0x0b, 0x02)
        #expect(rtc.rejectedTimeWrites == 0)
        clock.advance(seconds: 31)  // 1999-12-31 23:59:30 + 31 s
        #expect(rtc.register(0x09) == 0x00)
        #expect(rtc.register(0x32) == 0x20)
        #expect(rtc.register(0x00) == 0x01)
        #expect(rtc.register(0x08) == 0x01)
        #expect(rtc.guestOffsetSeconds == CivilTime(secondsSinceEpoch: 946_684_770).secondsSinceEpoch - 1_795_791_850)
    }

    @Test func impossibleDatesAreRefused() {
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))
        var rtc = RTC(clock: clock, interrupt: CountingTrigger())
        rtc.setRegister(0x0b, 0x82)
        rtc.setRegister(0x08, 0x13)  // month 13
        rtc.setRegister(0x0b, 0x02)
        rtc.setRegister(0x07, 0xaa)  // not BCD, outside SET mode
        #expect(rtc.rejectedTimeWrites == 2)
        #expect(rtc.guestOffsetSeconds == 0)
        #expect(rtc.register(0x08) == 0x11)
    }

    @Test func updateInProgressInTheLast244Microseconds() {
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845, nanoseconds: 999_800_000))
        var rtc = RTC(clock: clock, interrupt: CountingTrigger())
        #expect(rtc.register(0x0a) == 0xa6)
        clock.time.nanoseconds = 999_700_000
        #expect(rtc.register(0x0a) == 0x26)
        clock.time.nanoseconds = 999_800_000
        rtc.setRegister(0x0b, 0x82)  // no updates while SET holds
        #expect(rtc.register(0x0a) == 0x26)
    }

    @Test func nmiMaskBitAndRegisterD() {
        var rtc = RTC(clock: HostClock(), interrupt: CountingTrigger())
        rtc.write(offset: 0, value: 0x8d)
        #expect(rtc.nmiMasked)
        #expect(rtc.read(offset: 1) == 0x80)  // register D: valid RAM and time
        rtc.write(offset: 0, value: 0x0d)
        #expect(!rtc.nmiMasked)
        #expect(rtc.read(offset: 0) == 0xff)  // the index port is write-only
    }

    @Test func alarmInterruptWithDontCareFields() {
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))  // 15:04:05
        let irq = CountingTrigger()
        var rtc = RTC(clock: clock, interrupt: irq)
        rtc.setRegister(0x01, 0x30)  // second 30
        rtc.setRegister(0x03, 0xc0)  // any minute
        rtc.setRegister(0x05, 0xff)  // any hour
        rtc.setRegister(0x0b, 0x02 | 0x20)  // AIE
        #expect(rtc.register(0x01) == 0x30)
        clock.advance(seconds: 10)
        rtc.poll()
        #expect(!irq.isHigh)
        clock.advance(seconds: 15)  // 15:04:30
        rtc.poll()
        #expect(irq.isHigh)
        #expect(rtc.register(0x0c) == 0x80 | 0x20 | 0x10)  // IRQF, AF, UF
        #expect(!irq.isHigh)
        #expect(rtc.register(0x0c) == 0)  // reading C cleared it
    }

    @Test func updateEndedInterrupt() {
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))
        let irq = CountingTrigger()
        var rtc = RTC(clock: clock, interrupt: irq)
        rtc.setRegister(0x0b, 0x02 | 0x10)  // UIE
        rtc.poll()
        #expect(!irq.isHigh)
        clock.advance(seconds: 1)
        rtc.poll()
        #expect(irq.raises == 1)
        #expect(rtc.register(0x0c) == 0x90)
    }

    @Test func alarmAfterALongHostSleepIsStillSeen() {
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))  // 15:04:05
        let irq = CountingTrigger()
        var rtc = RTC(clock: clock, interrupt: irq)
        rtc.setRegister(0x01, 0x00)
        rtc.setRegister(0x03, 0x00)
        rtc.setRegister(0x05, 0x03)  // daily at 03:00:00
        rtc.setRegister(0x0b, 0x02 | 0x20)
        clock.advance(seconds: 40 * 86_400)  // the VM was paused for 40 days
        rtc.poll()
        #expect(irq.isHigh)
        #expect(rtc.register(0x0c) & 0x20 != 0)
    }

    /// Whatever a guest writes to whichever index, the device stays consistent.
    @Test func hostileIndexAndDataTraffic() {
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))
        var rtc = RTC(clock: clock, interrupt: CountingTrigger())
        var seed: UInt32 = 0x1234_5678
        for _ in 0..<50_000 {
            seed = seed &* 1_664_525 &+ 1_013_904_223
            let byte = UInt8(truncatingIfNeeded: seed >> 24)
            rtc.write(offset: UInt8(seed >> 8 & 3), value: byte)
            _ = rtc.read(offset: UInt8(seed >> 10 & 3))
            if seed & 0xff == 0 { clock.advance(seconds: Int64(seed >> 16 & 0xff)) }
        }
        rtc.setRegister(0x0b, 0x02)  // leave SET mode, 24 h BCD
        let month = rtc.register(0x08)
        #expect((0x01...0x12).contains(month) && month & 0x0f <= 9)
        #expect(rtc.register(0x0d) == 0x80)
    }

    @Test func cmosRAMKeepsBytes() {
        var rtc = RTC(clock: HostClock(), interrupt: CountingTrigger())
        rtc.storeRAM(0x12, at: 0x34)
        #expect(rtc.register(0x34) == 0x12)
        rtc.setRegister(0x7f, 0xab)
        #expect(rtc.register(0x7f) == 0xab)
        rtc.setRegister(0x0d, 0)  // read-only
        #expect(rtc.register(0x0d) == 0x80)
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

    @Test func primeCellIdentification() {
        var rtc = PL031(clock: HostClock(), interrupt: CountingTrigger())
        let ids = stride(from: UInt64(0xfe0), through: 0xffc, by: 4).map { rtc.read(offset: $0) }
        #expect(ids == [0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1])
    }

    @Test func loadMatchAndInterrupt() {
        typealias Registers = PL031<SteppedClock, CountingTrigger>
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))
        let irq = CountingTrigger()
        var rtc = PL031(clock: clock, interrupt: irq)
        rtc.write(offset: Registers.loadRegister, value: 1000)
        #expect(rtc.read(offset: Registers.dataRegister) == 1000)
        #expect(rtc.read(offset: Registers.loadRegister) == 1000)
        rtc.write(offset: Registers.matchRegister, value: 1005)
        rtc.write(offset: Registers.interruptMaskRegister, value: 1)
        clock.advance(seconds: 4)
        rtc.poll()
        #expect(!irq.isHigh)
        clock.advance(seconds: 3)  // passes 1005 between two looks
        rtc.poll()
        #expect(irq.isHigh)
        #expect(rtc.read(offset: Registers.maskedInterruptStatusRegister) == 1)
        rtc.write(offset: Registers.interruptClearRegister, value: 1)
        #expect(!irq.isHigh)
        #expect(rtc.read(offset: Registers.rawInterruptStatusRegister) == 0)
        #expect(rtc.read(offset: Registers.controlRegister) == 1)
    }
}
