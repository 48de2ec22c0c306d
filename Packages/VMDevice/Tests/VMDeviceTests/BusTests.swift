// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Synchronization
import Testing
import VMDevice

/// A device that counts accesses atomically and answers with its tag and the offset.
final class TaggedDevice: BusDevice {
    let tag: UInt64
    let reads = Atomic<Int>(0)
    let writes = Atomic<Int>(0)
    let written = Atomic<UInt64>(0)
    init(tag: UInt64) { self.tag = tag }
    func read(offset: UInt64, size: Int) -> UInt64 {
        reads.add(1, ordering: .relaxed)
        return tag << 32 | offset
    }
    func write(offset: UInt64, size: Int, value: UInt64) {
        writes.add(1, ordering: .relaxed)
        written.add(value, ordering: .relaxed)
    }
}

/// Runs `body(thread)` on `count` new threads at once and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchSemaphore(value: 0)
    for index in 0..<count {
        let thread = Thread {
            body(index)
            done.signal()
        }
        thread.start()
    }
    for _ in 0..<count { done.wait() }
}

/// The multi-threaded tests; the single-threaded bus tests are portable cases
/// (VMDevicePortableTests), run here by `portable`.
@Suite struct BusTests {
    @Test func concurrentDispatchFromSeveralThreads() throws {
        let bus = PioBus()
        let devices = (0..<8).map { TaggedDevice(tag: UInt64($0)) }
        for (index, device) in devices.enumerated() {
            try bus.insert(device, at: BusRange(base: UInt64(index) * 0x10, size: 0x10))
        }
        let perThread = 20_000
        let failures = Atomic<Int>(0)
        let churns = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        // One thread inserts and removes a range next to the devices the whole time.
        let churner = Thread {
            let spare = TaggedDevice(tag: 99)
            while !stop.load(ordering: .relaxed) {
                do {
                    try bus.insert(spare, at: BusRange(base: 0x100, size: 0x10))
                    try bus.remove(BusRange(base: 0x100, size: 0x10))
                    churns.add(1, ordering: .relaxed)
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        churner.start()
        onThreads(4) { thread in
            for iteration in 0..<perThread {
                let index = UInt64((iteration + thread) % 8)
                let offset = UInt64(iteration % 0x10)
                do {
                    let value = try bus.read(address: index * 0x10 + offset, size: 1)
                    if value != index << 32 | offset { failures.add(1, ordering: .relaxed) }
                    try bus.write(address: index * 0x10, size: 1, value: 1)
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        stop.store(true, ordering: .relaxed)
        while bus.count != 8 {}  // the churner finishes its last remove
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(churns.load(ordering: .relaxed) > 0)
        let reads = devices.reduce(0) { $0 + $1.reads.load(ordering: .relaxed) }
        let writes = devices.reduce(0) { $0 + $1.writes.load(ordering: .relaxed) }
        #expect(reads == 4 * perThread)
        #expect(writes == 4 * perThread)
        #expect(devices.reduce(UInt64(0)) { $0 + $1.written.load(ordering: .relaxed) } == UInt64(4 * perThread))
    }

    @Test func writeLockExcludesEveryoneElse() {
        final class Box: @unchecked Sendable { var value = 0 }
        let lock = ReadWriteSpinLock()
        let box = Box()
        onThreads(4) { _ in
            for _ in 0..<100_000 { lock.withWriteLock { box.value += 1 } }
        }
        #expect(lock.withReadLock { box.value } == 400_000)
    }
}
