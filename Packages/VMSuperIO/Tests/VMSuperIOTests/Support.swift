// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
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

/// The host's real-time clock through clock_gettime(CLOCK_REALTIME).
struct HostClock: WallClock {
    func now() -> WallClockTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return WallClockTime(seconds: Int64(spec.tv_sec), nanoseconds: UInt32(spec.tv_nsec))
    }
}
