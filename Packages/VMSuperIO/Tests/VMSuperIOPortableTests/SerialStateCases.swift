// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMSuperIO

private typealias StateSerial = Serial<CountingTrigger, CollectingSink>

private func makeSerial(fifoCapacity: Int = 16) -> (StateSerial, CountingTrigger) {
    let irq = CountingTrigger()
    return (
        Serial(interrupt: irq, sink: CollectingSink(), configuration: SerialConfiguration(fifoCapacity: fifoCapacity)),
        irq
    )
}

let serialStateCases: [PortableTestCase] = [
    PortableTestCase("SerialState", "restoredPortContinuesWhereTheSavedOneStopped") { () throws(TestFailure) in
        var (port, _) = makeSerial()
        port.write(offset: 3, value: 0x80)  // DLAB
        port.write(offset: 0, value: 0x01)  // 115200 baud
        port.write(offset: 3, value: 0x1b)  // 8E1, DLAB off
        port.write(offset: 2, value: 0xc1)  // FIFOs on, trigger 14
        port.write(offset: 4, value: 0x0b)  // DTR RTS OUT2
        port.write(offset: 7, value: 0x5a)
        port.write(offset: 1, value: 0x01)  // receive interrupts
        _ = port.enqueueInput([1, 2, 3])
        port.sink.accepting = false
        port.write(offset: 0, value: 0x41)  // held: the sink pushes back
        let saved = port.state
        try expectEqual(saved.receive, [1, 2, 3])
        try expectEqual(saved.transmit, [0x41])

        var (fresh, irq) = makeSerial()
        try expectNoError { () throws(SerialStateError) in try fresh.restore(saved) }
        try expect(fresh.state == saved)
        try expect(irq.isHigh)  // received data below the trigger level: a character timeout is pending
        try expectEqual(fresh.read(offset: 2), 0xcc)
        try expectEqual(fresh.divisor, 1)
        try expectEqual(fresh.read(offset: 7), 0x5a)
        try expectEqual(fresh.read(offset: 0), 1)
        try expectEqual(fresh.read(offset: 0), 2)
        try expectEqual(fresh.read(offset: 0), 3)
        try expect(!irq.isHigh)
        try expectEqual(fresh.flushOutput(), 1)  // the held byte leaves from the restored port
        try expectEqual(fresh.sink.bytes, [0x41])
    },

    PortableTestCase("SerialState", "stateThatDoesNotFitIsRefusedAndLeavesThePortAlone") { () throws(TestFailure) in
        var (big, _) = makeSerial(fifoCapacity: 64)
        big.write(offset: 2, value: 0x01)
        _ = big.enqueueInput([UInt8](repeating: 9, count: 40))
        let tooMany = big.state
        var (port, _) = makeSerial(fifoCapacity: 16)
        port.write(offset: 7, value: 0x33)
        try expectError(SerialStateError.fifoOverflow(transmit: false, count: 40, capacity: 16)) {
            () throws(SerialStateError) in try port.restore(tooMany)
        }
        var bad = port.state
        bad.triggerLevel = 3
        try expectError(SerialStateError.triggerLevel(3)) { () throws(SerialStateError) in try port.restore(bad) }
        bad = port.state
        bad.interruptEnable = 0xff
        try expectError(SerialStateError.register(offset: 1, value: 0xff)) { () throws(SerialStateError) in
            try port.restore(bad)
        }
        bad = port.state
        bad.fifosEnabled = false
        bad.receive = [1, 2]  // without FIFOs the port holds one byte
        try expectError(SerialStateError.fifoOverflow(transmit: false, count: 2, capacity: 1)) {
            () throws(SerialStateError) in try port.restore(bad)
        }
        try expectEqual(port.read(offset: 7), 0x33)
    },
]
