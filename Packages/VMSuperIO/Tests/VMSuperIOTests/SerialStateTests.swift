// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing
import VMSuperIO

/// A trigger that only remembers its level.
private final class Line: InterruptTrigger {
    var high = false
    var mode: TriggerMode { .level }
    func raise() { high = true }
    func lower() { high = false }
}

/// A sink that takes everything.
private struct Taker: SerialSink {
    var bytes: [UInt8] = []
    mutating func write(_ byte: UInt8) -> Bool {
        bytes.append(byte)
        return true
    }
}

@Suite("SerialState: JSON round trip and refusals in one line")
struct SerialStateTests {
    @Test func aStateSurvivesJSONAndRefusalsSayWhatIsWrong() throws {
        var port = Serial(interrupt: Line(), sink: Taker(), configuration: SerialConfiguration(fifoCapacity: 16))
        port.write(offset: 2, value: 0x01)
        _ = port.enqueueInput([7, 8])
        let saved = port.state
        let decoded = try JSONDecoder().decode(SerialState.self, from: JSONEncoder().encode(saved))
        #expect(decoded == saved)

        var bad = saved
        bad.transmit = [UInt8](repeating: 1, count: 17)
        #expect(throws: SerialStateError.fifoOverflow(transmit: true, count: 17, capacity: 16)) {
            try port.restore(bad)
        }
        #expect(
            "\(SerialStateError.fifoOverflow(transmit: true, count: 17, capacity: 16))"
                == "transmit FIFO: 17 bytes, capacity 16")
        bad = saved
        bad.lineErrors = 0x01
        #expect(throws: SerialStateError.register(offset: 5, value: 1)) { try port.restore(bad) }
        bad = saved
        bad.modemDeltas = 0x10
        #expect(throws: SerialStateError.register(offset: 6, value: 0x10)) { try port.restore(bad) }
        bad = saved
        bad.lastModemInputs = 0x01
        #expect(throws: SerialStateError.register(offset: 6, value: 0x01)) { try port.restore(bad) }
        #expect("\(SerialStateError.register(offset: 1, value: 0xf0))" == "IER state 0xf0 has bits the register lacks")
        #expect("\(SerialStateError.triggerLevel(3))" == "receive trigger level 3 is not 1, 4, 8 or 14")
        #expect(port.state == saved)  // every refusal left the port as it was
    }
}
