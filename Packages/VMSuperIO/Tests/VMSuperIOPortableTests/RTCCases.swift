// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
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

let cmosRTCCases: [PortableTestCase] = [
    PortableTestCase("CMOSRTC", "binaryAndTwelveHourModes") { () throws(TestFailure) in
        // 2026-11-27 15:04:05 UTC, a Friday.
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))
        var rtc = RTC(clock: clock, interrupt: CountingTrigger())
        try expectEqual(rtc.register(0x04), 0x15)
        rtc.setRegister(0x0b, 0x02 | 0x04)  // 24 h, binary
        try expectEqual(rtc.register(0x04), 15)
        try expectEqual(rtc.register(0x00), 5)
        try expectEqual(rtc.register(0x06), 6)
        rtc.setRegister(0x0b, 0x00)  // 12 h, BCD: 3 PM
        try expectEqual(rtc.register(0x04), 0x80 | 0x03)
        rtc.setRegister(0x0b, 0x04)  // 12 h, binary
        try expectEqual(rtc.register(0x04), 0x80 | 3)
        clock.time.seconds -= 15 * 3600  // 00:04:05 is 12 AM
        try expectEqual(rtc.register(0x04), 12)
    },

    PortableTestCase("CMOSRTC", "guestSetsItsClockWithoutTouchingTheHost") { () throws(TestFailure) in
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))
        var rtc = RTC(clock: clock, interrupt: CountingTrigger())
        rtc.setRegister(0x0b, 0x82)  // SET, 24 h, BCD
        // While SET holds, the fields do not tick.
        clock.advance(seconds: 5)
        try expectEqual(rtc.register(0x00), 0x05)
        for (index, value) in [(0x00, 0x30), (0x02, 0x59), (0x04, 0x23), (0x07, 0x31), (0x08, 0x12), (0x09, 0x99)] {
            rtc.setRegister(UInt8(index), UInt8(value))
        }
        rtc.setRegister(0x32, 0x19)
        rtc.setRegister(0x0b, 0x02)
        try expectEqual(rtc.rejectedTimeWrites, 0)
        clock.advance(seconds: 31)  // 1999-12-31 23:59:30 + 31 s
        try expectEqual(rtc.register(0x09), 0x00)
        try expectEqual(rtc.register(0x32), 0x20)
        try expectEqual(rtc.register(0x00), 0x01)
        try expectEqual(rtc.register(0x08), 0x01)
        try expectEqual(
            rtc.guestOffsetSeconds, CivilTime(secondsSinceEpoch: 946_684_770).secondsSinceEpoch - 1_795_791_850)
    },

    PortableTestCase("CMOSRTC", "impossibleDatesAreRefused") { () throws(TestFailure) in
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))
        var rtc = RTC(clock: clock, interrupt: CountingTrigger())
        rtc.setRegister(0x0b, 0x82)
        rtc.setRegister(0x08, 0x13)  // month 13
        rtc.setRegister(0x0b, 0x02)
        rtc.setRegister(0x07, 0xaa)  // not BCD, outside SET mode
        try expectEqual(rtc.rejectedTimeWrites, 2)
        try expectEqual(rtc.guestOffsetSeconds, 0)
        try expectEqual(rtc.register(0x08), 0x11)
    },

    PortableTestCase("CMOSRTC", "updateInProgressInTheLast244Microseconds") { () throws(TestFailure) in
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845, nanoseconds: 999_800_000))
        var rtc = RTC(clock: clock, interrupt: CountingTrigger())
        try expectEqual(rtc.register(0x0a), 0xa6)
        clock.time.nanoseconds = 999_700_000
        try expectEqual(rtc.register(0x0a), 0x26)
        clock.time.nanoseconds = 999_800_000
        rtc.setRegister(0x0b, 0x82)  // no updates while SET holds
        try expectEqual(rtc.register(0x0a), 0x26)
    },

    PortableTestCase("CMOSRTC", "nmiMaskBitAndRegisterD") { () throws(TestFailure) in
        var rtc = RTC(clock: SteppedClock(WallClockTime(seconds: 1_795_791_845)), interrupt: CountingTrigger())
        rtc.write(offset: 0, value: 0x8d)
        try expect(rtc.nmiMasked)
        try expectEqual(rtc.read(offset: 1), 0x80)  // register D: valid RAM and time
        rtc.write(offset: 0, value: 0x0d)
        try expect(!rtc.nmiMasked)
        try expectEqual(rtc.read(offset: 0), 0xff)  // the index port is write-only
    },

    PortableTestCase("CMOSRTC", "alarmInterruptWithDontCareFields") { () throws(TestFailure) in
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))  // 15:04:05
        let irq = CountingTrigger()
        var rtc = RTC(clock: clock, interrupt: irq)
        rtc.setRegister(0x01, 0x30)  // second 30
        rtc.setRegister(0x03, 0xc0)  // any minute
        rtc.setRegister(0x05, 0xff)  // any hour
        rtc.setRegister(0x0b, 0x02 | 0x20)  // AIE
        try expectEqual(rtc.register(0x01), 0x30)
        clock.advance(seconds: 10)
        rtc.poll()
        try expect(!irq.isHigh)
        clock.advance(seconds: 15)  // 15:04:30
        rtc.poll()
        try expect(irq.isHigh)
        try expectEqual(rtc.register(0x0c), 0x80 | 0x20 | 0x10)  // IRQF, AF, UF
        try expect(!irq.isHigh)
        try expectEqual(rtc.register(0x0c), 0)  // reading C cleared it
    },

    PortableTestCase("CMOSRTC", "updateEndedInterrupt") { () throws(TestFailure) in
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))
        let irq = CountingTrigger()
        var rtc = RTC(clock: clock, interrupt: irq)
        rtc.setRegister(0x0b, 0x02 | 0x10)  // UIE
        rtc.poll()
        try expect(!irq.isHigh)
        clock.advance(seconds: 1)
        rtc.poll()
        try expectEqual(irq.raises, 1)
        try expectEqual(rtc.register(0x0c), 0x90)
    },

    PortableTestCase("CMOSRTC", "alarmAfterALongHostSleepIsStillSeen") { () throws(TestFailure) in
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))  // 15:04:05
        let irq = CountingTrigger()
        var rtc = RTC(clock: clock, interrupt: irq)
        rtc.setRegister(0x01, 0x00)
        rtc.setRegister(0x03, 0x00)
        rtc.setRegister(0x05, 0x03)  // daily at 03:00:00
        rtc.setRegister(0x0b, 0x02 | 0x20)
        clock.advance(seconds: 40 * 86_400)  // the VM was paused for 40 days
        rtc.poll()
        try expect(irq.isHigh)
        try expect(rtc.register(0x0c) & 0x20 != 0)
    },

    PortableTestCase("CMOSRTC", "hostileIndexAndDataTraffic") { () throws(TestFailure) in
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
        try expect((0x01...0x12).contains(month) && month & 0x0f <= 9)
        try expectEqual(rtc.register(0x0d), 0x80)
    },

    PortableTestCase("CMOSRTC", "cmosRAMKeepsBytes") { () throws(TestFailure) in
        var rtc = RTC(clock: SteppedClock(WallClockTime(seconds: 1_795_791_845)), interrupt: CountingTrigger())
        rtc.storeRAM(0x12, at: 0x34)
        try expectEqual(rtc.register(0x34), 0x12)
        rtc.setRegister(0x7f, 0xab)
        try expectEqual(rtc.register(0x7f), 0xab)
        rtc.setRegister(0x0d, 0)  // read-only
        try expectEqual(rtc.register(0x0d), 0x80)
    },
]

let pl031Cases: [PortableTestCase] = [
    PortableTestCase("PL031", "primeCellIdentification") { () throws(TestFailure) in
        var rtc = PL031(clock: SteppedClock(WallClockTime(seconds: 1_795_791_845)), interrupt: CountingTrigger())
        let ids = stride(from: UInt64(0xfe0), through: 0xffc, by: 4).map { rtc.read(offset: $0) }
        try expectEqual(ids, [0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1])
    },

    PortableTestCase("PL031", "loadMatchAndInterrupt") { () throws(TestFailure) in
        typealias Registers = PL031<SteppedClock, CountingTrigger>
        let clock = SteppedClock(WallClockTime(seconds: 1_795_791_845))
        let irq = CountingTrigger()
        var rtc = PL031(clock: clock, interrupt: irq)
        rtc.write(offset: Registers.loadRegister, value: 1000)
        try expectEqual(rtc.read(offset: Registers.dataRegister), 1000)
        try expectEqual(rtc.read(offset: Registers.loadRegister), 1000)
        rtc.write(offset: Registers.matchRegister, value: 1005)
        rtc.write(offset: Registers.interruptMaskRegister, value: 1)
        clock.advance(seconds: 4)
        rtc.poll()
        try expect(!irq.isHigh)
        clock.advance(seconds: 3)  // passes 1005 between two looks
        rtc.poll()
        try expect(irq.isHigh)
        try expectEqual(rtc.read(offset: Registers.maskedInterruptStatusRegister), 1)
        rtc.write(offset: Registers.interruptClearRegister, value: 1)
        try expect(!irq.isHigh)
        try expectEqual(rtc.read(offset: Registers.rawInterruptStatusRegister), 0)
        try expectEqual(rtc.read(offset: Registers.controlRegister), 1)
    },
]
