// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Hypervisor
import IntegrationVMMCore
import Synchronization
import Testing
import VMDevice

/// Counts callbacks from device models (which may call from any thread).
final class Counter: Sendable {
    let value = Atomic<Int>(0)
    func bump() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

@Suite("integration-vmm devices on their buses")
struct DeviceTests {
    @Test func acpiSleepRegisterPowersOffOnlyForS5WithSleepEnable() {
        let powerOffs = Counter()
        let device = ACPISleepDevice(s5SleepType: 5) { powerOffs.bump() }
        device.write(offset: 0, size: 1, value: 5 << 2)  // S5 without SLP_EN: nothing
        device.write(offset: 0, size: 1, value: 3 << 2 | 0x20)  // S3: not supported, nothing
        device.write(offset: 1, size: 1, value: 0x34)  // status register: nothing
        #expect(powerOffs.count == 0)
        device.write(offset: 0, size: 1, value: 0x34)  // what Linux writes for \_S5
        #expect(powerOffs.count == 1)
    }

    @Test func i8042ResetPulseReboots() {
        let resets = Counter()
        let device = I8042Device { resets.bump() }
        device.write(offset: 4, size: 1, value: 0xaa)  // self-test
        #expect(device.read(offset: 0, size: 1) == 0x55)
        #expect(resets.count == 0)
        device.write(offset: 4, size: 1, value: 0xfe)  // pulse the reset line
        #expect(resets.count == 1)
        #expect(device.read(offset: 2, size: 1) == 0xff)  // ports between data and command are empty
    }

    @Test func bootTimerReportsOnTheMagicValueOnly() {
        let reports = Counter()
        let device = BootTimerDevice(start: .now) { elapsed in
            if elapsed >= .zero { reports.bump() }
        }
        device.write(offset: 0, size: 1, value: 1)
        #expect(reports.count == 0)
        device.write(offset: 0, size: 1, value: BootTimerDevice.magic)
        #expect(reports.count == 1)
    }

    @Test func rtcReadsTheHostClockInBCD() {
        let rtc = RTCDevice()
        rtc.write(offset: 0, size: 1, value: 0x09)  // year
        let year = rtc.read(offset: 1, size: 1)
        let hostYear = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date())
            .year!
        #expect(year == UInt64((hostYear % 100) / 10 * 16 + hostYear % 10))
    }

    @Test func serialWritesReachTheConsoleAndRaiseTheIRQ() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        let output = ConsoleOutput(descriptor: fds[1], mode: .everything, keepsTranscript: true)
        // COM1's line on a real VM: KVM's in-kernel irqchip behind an irqfd on GSI 4.
        guard access("/dev/kvm", R_OK | W_OK) == 0 else {
            try GuestRequirement.missing("/dev/kvm")
            return
        }
        let vm = try KVMHypervisor().createVirtualMachine()
        try vm.createInterruptController()
        let group = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 4)])
        let line = GroupInterruptLine(group: group, index: 0)
        let serial = SerialPortDevice(line: line, output: output)
        serial.write(offset: 1, size: 1, value: 0x02)  // THR-empty interrupt on: raises at once
        #expect(line.failedRaises == 1, "the raise reached the (still disabled) group, which refused it")
        try group.enable()
        for byte in "ok\n".utf8 { serial.write(offset: 0, size: 1, value: UInt64(byte)) }
        var buffer = [UInt8](repeating: 0, count: 3)
        #expect(read(fds[0], &buffer, 3) == 3)
        #expect(buffer == Array("ok\n".utf8))
        #expect(output.text == "ok\n")
        #expect(line.failedRaises == 1, "the enabled group took every later raise")
    }

    @Test func commandModeShowsOnlyTheCommandsLines() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let output = ConsoleOutput(descriptor: fds[1], mode: .commandOutput)
        let console =
            "[ 1.0] boot\nVMM-GUEST-READY uptime=1\nhello\n[ 2.5] kernel says\nVMM-GUEST-EXIT status=3\nafter\n"
        for byte in console.utf8 { output.write(byte) }
        close(fds[1])
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(fds[0], &buffer, 64)
        #expect(String(decoding: buffer[0..<max(0, count)], as: UTF8.self) == "hello\n")
        #expect(output.state.commandStatus == 3)
    }
}
