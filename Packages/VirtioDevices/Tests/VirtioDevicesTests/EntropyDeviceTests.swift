// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMMemory
import VirtioDevices

@Suite("virtio-rng")
struct EntropyDeviceTests {
    @Test("fills each buffer with random bytes, across buffers of one chain")
    func fills() throws {
        let device = EntropyDevice<TestMemory>()
        let driver = try TestDriver(device: device)
        try driver.start()
        let first = driver.allocate(100)
        let second = driver.allocate(300)
        let head = try driver.post(queue: 0, [(first, 100, true), (second, 300, true)])
        let used = try driver.waitUsed(queue: 0, count: 1)
        #expect(used.count == 1)
        #expect(used[0].id == UInt32(head))
        #expect(used[0].length == 400)
        let head100 = try driver.memory.read(count: 100, from: GuestAddress(first))
        let bytes = try head100 + driver.memory.read(count: 300, from: GuestAddress(second))
        // 400 zero bytes from getrandom would happen with probability 2^-3200.
        #expect(Set(bytes).count > 100)
        #expect(device.bytesServed == 400)
        #expect(driver.interrupts.take() >= 1)
    }

    @Test("large buffers are capped at the request limit; read-only buffers get nothing")
    func limits() throws {
        let device = EntropyDevice<TestMemory>()
        let driver = try TestDriver(device: device)
        try driver.start()
        let big = driver.allocate(1 << 20)
        try driver.post(queue: 0, [(big, 1 << 20, true)])
        #expect(try driver.waitUsed(queue: 0, count: 1).first?.length == UInt32(EntropyDevice<TestMemory>.requestLimit))
        let readOnly = driver.allocate(64)
        try driver.post(queue: 0, [(readOnly, 64, false)])
        #expect(try driver.waitUsed(queue: 0, count: 2).first?.length == 0)
    }

    @Test("a byte budget: buffers beyond it wait for the bucket, in order, then all complete")
    func rateLimited() throws {
        let clock = ManualClock()
        let limiter = RateLimiter(
            bandwidth: try TokenBucket(size: 256, refillTime: .milliseconds(100)), clock: clock.clock)
        let device = EntropyDevice<TestMemory>(rateLimiter: limiter)
        let driver = try TestDriver(device: device)
        try driver.start()
        var heads: [UInt16] = []
        for index in 0..<4 {
            heads.append(try driver.post(queue: 0, [(driver.allocate(128), 128, true)], notify: index == 3))
        }
        var used = try driver.waitUsed(queue: 0, count: 2)
        // The clock is frozen: however often the timer fires, the third buffer waits.
        usleep(300_000)
        #expect(try driver.queues[0].usedIndex(driver.memory) == 2)
        #expect(device.throttleCount >= 1)
        #expect(device.bytesServed == 256)
        clock.advance(.milliseconds(100))
        used += try driver.waitUsed(queue: 0, count: 4)
        #expect(used.map(\.id) == heads.map(UInt32.init))
        #expect(used.allSatisfy { $0.length == 128 })
        #expect(device.bytesServed == 512)
    }

    @Test("a buffer larger than the budget gets the budget, on the real clock")
    func largerThanTheBudget() throws {
        let limiter = RateLimiter(bandwidth: try TokenBucket(size: 100, refillTime: .milliseconds(50)))
        let device = EntropyDevice<TestMemory>(rateLimiter: limiter)
        let driver = try TestDriver(device: device)
        try driver.start()
        for index in 0..<3 { try driver.post(queue: 0, [(driver.allocate(4096), 4096, true)], notify: index == 2) }
        let used = try driver.waitUsed(queue: 0, count: 3)
        #expect(used.allSatisfy { $0.length == 100 })
        #expect(device.throttleCount >= 1)
    }
}
