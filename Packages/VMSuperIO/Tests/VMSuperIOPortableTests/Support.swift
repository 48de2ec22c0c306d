// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMSuperIO

/// Records what a device did with its interrupt output (a real implementation of
/// the protocol: counting is all an interrupt line needs to be observed).
final class CountingTrigger: InterruptTrigger {
    var raises = 0
    var lowers = 0
    var isHigh = false
    var mode: TriggerMode { .level }
    func raise() {
        raises += 1
        isHigh = true
    }
    func lower() {
        lowers += 1
        isHigh = false
    }
}

/// A clock the test moves by hand, for alarms and the update-in-progress window.
final class SteppedClock: WallClock {
    var time: WallClockTime
    init(_ time: WallClockTime) { self.time = time }
    func now() -> WallClockTime { time }
    func advance(seconds: Int64) { time.seconds += seconds }
}

/// A sink collecting bytes, with a switch to push back.
struct CollectingSink: SerialSink {
    var bytes: [UInt8] = []
    var accepting = true
    mutating func write(_ byte: UInt8) -> Bool {
        guard accepting else { return false }
        bytes.append(byte)
        return true
    }
}

/// The bytes of a static string, without going through `String`.
func utf8Bytes(_ text: StaticString) -> [UInt8] {
    text.withUTF8Buffer { Array($0) }
}
