// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
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

    // i8042_command(): write the command, then the parameter bytes, then read the
    // replies, polling the status register as the driver does.
    func command(_ code: UInt8, parameters: [UInt8] = [], replies: Int) throws(TestFailure) -> [UInt8]? {
        guard device.read(offset: commandPort) & STR_IBF == 0 else { return nil }
        let event = device.write(offset: commandPort, value: code)
        try expectEqual(event, .none)
        for parameter in parameters {
            let event = device.write(offset: dataPort, value: parameter)
            try expectEqual(event, .none)
        }
        var answer: [UInt8] = []
        for _ in 0..<replies {
            guard device.read(offset: commandPort) & STR_OBF != 0 else { return nil }
            answer.append(device.read(offset: dataPort))
        }
        return answer
    }
}

let i8042Cases: [PortableTestCase] = [
    // The sequence of drivers/input/serio/i8042.c: flush, self-test, read and
    // write the configuration byte, keyboard and aux port tests.
    PortableTestCase("I8042", "linuxProbeSequence") { () throws(TestFailure) in
        let controller = Controller()
        // i8042_flush: nothing pending after power-on.
        try expectEqual(controller.status() & STR_OBF, 0)
        try expectEqual(try controller.command(0xaa, replies: 1), [0x55])  // I8042_CMD_CTL_TEST
        let ctr = try controller.command(0x20, replies: 1)  // I8042_CMD_CTL_RCTR
        try expectEqual(ctr, [0x65])  // kbd interrupt, system flag, aux disabled, translation
        // i8042_controller_init disables both ports' interrupts while probing.
        let quiet = (ctr?.first ?? 0) & ~0x03 | 0x30
        try expectEqual(try controller.command(0x60, parameters: [quiet], replies: 0), [])
        try expectEqual(try controller.command(0x20, replies: 1), [quiet])
        let raisesWhileEnabled = controller.keyboardIRQ.raises
        try expectEqual(raisesWhileEnabled, 2)  // the 0x55 and CTR replies, with IRQ1 still enabled
        try expectEqual(try controller.command(0xab, replies: 1), [0x00])  // I8042_CMD_KBD_TEST
        // i8042_check_aux: AUX loopback answers on the aux side.
        try expectEqual(try controller.command(0xd3, parameters: [0x5a], replies: 0), [])
        try expectEqual(controller.status() & (STR_OBF | STR_AUXDATA), STR_OBF | STR_AUXDATA)
        try expectEqual(controller.readData(), 0x5a)
        try expectEqual(try controller.command(0xa9, replies: 1), [0x00])  // I8042_CMD_AUX_TEST
        try expectEqual(try controller.command(0xa8, replies: 0), [])  // AUX_ENABLE
        try expectEqual(controller.device.configurationByte & 0x20, 0)
        try expectEqual(controller.keyboardIRQ.raises, raisesWhileEnabled)  // masked from the CTR write on
        try expectEqual(controller.auxIRQ.raises, 0)
    },

    PortableTestCase("I8042", "atkbdIdentifiesAnMF2Keyboard") { () throws(TestFailure) in
        let controller = Controller()
        let identify = controller.device.write(offset: dataPort, value: 0xf2)
        try expectEqual(identify, .none)
        var answer: [UInt8] = []
        while controller.status() & STR_OBF != 0 {
            answer.append(controller.readData())
        }
        try expectEqual(answer, [0xfa, 0xab, 0x83])
        try expect(controller.keyboardIRQ.raises >= 1)
        try expect(!controller.keyboardIRQ.isHigh)
        // 0xED takes an argument byte, acknowledged separately.
        _ = controller.device.write(offset: dataPort, value: 0xed)
        _ = controller.device.write(offset: dataPort, value: 0x07)
        try expectEqual(controller.readData(), 0xfa)
        try expectEqual(controller.readData(), 0xfa)
    },

    PortableTestCase("I8042", "resetPulseIsASystemResetEvent") { () throws(TestFailure) in
        let controller = Controller()
        let pulse = controller.device.write(offset: commandPort, value: 0xfe)
        try expectEqual(pulse, .systemReset)
        // Pulsing other output lines is not a reset.
        let otherLines = controller.device.write(offset: commandPort, value: 0xff)
        try expectEqual(otherLines, .none)
        // Writing the output port with the reset bit low resets as well.
        let writeOutputPort = controller.device.write(offset: commandPort, value: 0xd1)
        try expectEqual(writeOutputPort, .none)
        let outputPortValue = controller.device.write(offset: dataPort, value: 0xdc)
        try expectEqual(outputPortValue, .systemReset)
        try expectEqual(controller.device.resetRequests, 2)
    },

    PortableTestCase("I8042", "hostKeyboardInputRaisesIRQ1AndIsBounded") { () throws(TestFailure) in
        let controller = Controller()
        let sent = controller.device.sendCtrlAltDelete()
        try expect(sent)
        try expect(controller.keyboardIRQ.isHigh)
        let first = controller.readData()
        try expectEqual(first, 0x1d)
        let taken = controller.device.enqueueKeyboardInput([UInt8](repeating: 0x1e, count: 100))
        try expectEqual(taken, 9)
        let sentAgain = controller.device.sendCtrlAltDelete()
        try expect(!sentAgain)
        try expectEqual(controller.device.droppedInput, 8)
    },

    PortableTestCase("I8042", "hostileCommandFloodStaysBounded") { () throws(TestFailure) in
        let controller = Controller()
        for round in 0..<10_000 {
            _ = controller.device.write(offset: UInt8(round % 2 == 0 ? 4 : 0), value: UInt8(truncatingIfNeeded: round))
        }
        var drained = 0
        while controller.status() & STR_OBF != 0 && drained < 1000 {
            _ = controller.readData()
            drained += 1
        }
        try expect(drained <= I8042<CountingTrigger>.outputCapacity)
        try expectEqual(controller.readPort(7), 0xff)
    },
]
