// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Synchronization
import Testing
import VMDevice
import VirtioDevices

/// A group of `count` interrupts that records which ones fired.
private final class RecordingGroup: InterruptSourceGroup, Sendable {
    let count: Int
    private let fired = Mutex<[Int]>([])
    init(count: Int) { self.count = count }
    func enable() throws(InterruptError) {}
    func disable() throws(InterruptError) {}
    func update(index: Int, route: InterruptRoute, masked: Bool) throws(InterruptError) {}
    func trigger(index: Int) throws(InterruptError) {
        guard index < count else { throw .indexOutOfRange(index: index, count: count) }
        fired.withLock { $0.append(index) }
    }
    func take() -> [Int] {
        fired.withLock { fired in
            defer { fired.removeAll() }
            return fired
        }
    }
}

@Suite("VirtioInterrupt: one line per device, or one per queue")
struct VirtioInterruptTests {
    @Test func oneLineCarriesEveryQueue() {
        let group = RecordingGroup(count: 4)
        let interrupt = VirtioInterrupt(group: group, index: 2)
        interrupt.signal(.usedBuffer, queue: 1)
        interrupt.signal(.usedBuffer)
        #expect(group.take() == [2, 2])
        #expect(interrupt.pending == .usedBuffer)
    }

    @Test func routedQueuesFireTheirOwnLine() {
        let group = RecordingGroup(count: 3)
        let interrupt = VirtioInterrupt(group: group, index: 0, routesQueues: true)
        interrupt.signal(.usedBuffer, queue: 2)
        interrupt.signal(.usedBuffer, queue: 0)
        #expect(group.take() == [2, 0])
        // A reason that belongs to no queue tells every line.
        interrupt.signal(.configurationChange)
        #expect(group.take() == [0, 1, 2])
        #expect(interrupt.pending == [.usedBuffer, .configurationChange])
        // A queue beyond the group is a failed signal, not a crash.
        interrupt.signal(.usedBuffer, queue: 3)
        #expect(group.take().isEmpty && interrupt.failedSignals == 1)
    }
}
