// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Testing
import VMSuperIO

private let dataPort = I8042<CountingTrigger>.dataOffset
private let commandPort = I8042<CountingTrigger>.commandOffset
private let STR_OBF: UInt8 = 0x01, STR_IBF: UInt8 = 0x02, STR_AUXDATA: UInt8 = 0x20

private final class Controller {
    let keyboardIRQ = CountingTrigger()
    let auxIRQ = CountingTrigger()
    var device: I8042<CountingTrigger>
    init() { device = I8042(keyboardInterrupt: keyboardIRQ, auxInterrupt: auxIRQ) }
    func status() -> UInt8 { device.read(offset: commandPort) }
    func readData() -> UInt8 { device.read(offset: dataPort) }
    func readPort(_ offset: UInt8) -> UInt8 { device.read(offset: offset) }

    /// i8042_command(): write the command, then the parameter bytes, then read the
    /// replies, polling the status register as the driver does.
    func command(_ code: UInt8, parameters: [UInt8] = [], replies: Int) -> [UInt8]? {
        guard device.read(offset: commandPort) & STR_IBF == 0 else { return nil }
        let event = device.write(offset: commandPort, value: code)
        #expect(event == .none)
        for parameter in parameters {
            let event = device.write(offset: dataPort, value: parameter)
            #expect(event == .none)
        }
        var answer: [UInt8] = []
        for _ in 0..<replies {
            guard device.read(offset: commandPort) & STR_OBF != 0 else { return nil }
            answer.append(device.read(offset: dataPort))
        }
        return answer
    }
}

@Suite struct I8042Tests {
    /// The sequence of drivers/input/serio/i8042.c: flush, self-test, read and
    /// write the configuration byte, keyboard and aux port tests.
    @Test func linuxProbeSequence() {
        let controller = Controller()
        // i8042_flush: nothing pending after power-on.
        #expect(controller.status() & STR_OBF == 0)
        #expect(controller.command(0xaa, replies: 1) == [0x55])  // I8042_CMD_CTL_TEST
        let ctr = controller.command(0x20, replies: 1)  // I8042_CMD_CTL_RCTR
        #expect(ctr == [0x65])  // kbd interrupt, system flag, aux disabled, translation
        // i8042_controller_init disables both ports' interrupts while probing.
        let quiet = (ctr?.first ?? 0) & ~0x03 | 0x30
        #expect(controller.command(0x60, parameters: [quiet], replies: 0) == [])
        #expect(controller.command(0x20, replies: 1) == [quiet])
        let raisesWhileEnabled = controller.keyboardIRQ.raises
        #expect(raisesWhileEnabled == 2)  // the 0x55 and CTR replies, with IRQ1 still enabled
        #expect(controller.command(0xab, replies: 1) == [0x00])  // I8042_CMD_KBD_TEST
        // i8042_check_aux: AUX loopback answers on the aux side.
        #expect(controller.command(0xd3, parameters: [0x5a], replies: 0) == [])
        #expect(controller.status() & (STR_OBF | STR_AUXDATA) == STR_OBF | STR_AUXDATA)
        #expect(controller.readData() == 0x5a)
        #expect(controller.command(0xa9, replies: 1) == [0x00])  // I8042_CMD_AUX_TEST
        #expect(controller.command(0xa8, replies: 0) == [])  // AUX_ENABLE
        #expect(controller.device.configurationByte & 0x20 == 0)
        #expect(controller.keyboardIRQ.raises == raisesWhileEnabled)  // masked from the CTR write on
        #expect(controller.auxIRQ.raises == 0)
    }

    @Test func atkbdIdentifiesAnMF2Keyboard() {
        let controller = Controller()
        let identify = controller.device.write(offset: dataPort, value: 0xf2)
        #expect(identify == .none)
        var answer: [UInt8] = []
        while controller.status() & STR_OBF != 0 {
            answer.append(controller.readData())
        }
        #expect(answer == [0xfa, 0xab, 0x83])
        #expect(controller.keyboardIRQ.raises >= 1)
        #expect(!controller.keyboardIRQ.isHigh)
        // 0xED takes an argument byte, acknowledged separately.
        _ = controller.device.write(offset: dataPort, value: 0xed)
        _ = controller.device.write(offset: dataPort, value: 0x07)
        #expect(controller.readData() == 0xfa)
        #expect(controller.readData() == 0xfa)
    }

    @Test func resetPulseIsASystemResetEvent() {
        let controller = Controller()
        let pulse = controller.device.write(offset: commandPort, value: 0xfe)
        #expect(pulse == .systemReset)
        // Pulsing other output lines is not a reset.
        let otherLines = controller.device.write(offset: commandPort, value: 0xff)
        #expect(otherLines == .none)
        // Writing the output port with the reset bit low resets as well.
        let writeOutputPort = controller.device.write(offset: commandPort, value: 0xd1)
        #expect(writeOutputPort == .none)
        let outputPortValue = controller.device.write(offset: dataPort, value: 0xdc)
        #expect(outputPortValue == .systemReset)
        #expect(controller.device.resetRequests == 2)
    }

    @Test func hostKeyboardInputRaisesIRQ1AndIsBounded() {
        let controller = Controller()
        let sent = controller.device.sendCtrlAltDelete()
        #expect(sent)
        #expect(controller.keyboardIRQ.isHigh)
        let first = controller.readData()
        #expect(first == 0x1d)
        let taken = controller.device.enqueueKeyboardInput([UInt8](repeating: 0x1e, count: 100))
        #expect(taken == 9)
        let sentAgain = controller.device.sendCtrlAltDelete()
        #expect(!sentAgain)
        #expect(controller.device.droppedInput == 8)
    }

    @Test func hostileCommandFloodStaysBounded() {
        let controller = Controller()
        for round in 0..<10_000 {
            _ = controller.device.write(offset: UInt8(round % 2 == 0 ? 4 : 0), value: UInt8(truncatingIfNeeded: round))
        }
        var drained = 0
        while controller.status() & STR_OBF != 0 && drained < 1000 {
            _ = controller.readData()
            drained += 1
        }
        #expect(drained <= I8042<CountingTrigger>.outputCapacity)
        #expect(controller.readPort(7) == 0xff)
    }
}
