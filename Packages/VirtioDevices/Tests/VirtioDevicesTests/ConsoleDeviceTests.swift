// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Synchronization
import Testing
import VMMemory
import VirtioDevices
import VirtioQueue

/// Collects what the console writes, call by call.
private final class Sink: Sendable {
    let calls = Mutex<[[UInt8]]>([])
    var bytes: [UInt8] { calls.withLock { $0.flatMap { $0 } } }
    func write(_ bytes: [UInt8]) { calls.withLock { $0.append(bytes) } }
}

/// Lets the console's own output closure reach the console.
private final class ConsoleBox: Sendable {
    let console = Mutex<ConsoleDevice<TestMemory>?>(nil)
}

private func makeConsole(
    size: ConsoleSize? = nil, inputCapacity: Int = 64 * 1024
) -> (ConsoleDevice<TestMemory>, Sink) {
    let sink = Sink()
    let console = ConsoleDevice<TestMemory>(size: size, inputCapacity: inputCapacity) { sink.write($0) }
    return (console, sink)
}

private func waitUntil(_ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + .seconds(5)
    while try !condition() {
        if ContinuousClock.now > deadline { throw TestDriverError("condition not met in time") }
        usleep(1000)
    }
}

private let receiveQueue = 0
private let transmitQueue = 1

@Suite("virtio-console")
struct ConsoleDeviceTests {
    @Test("reports one port, its size and the emergency-write feature; never multiport")
    func configuration() throws {
        let (sized, _) = makeConsole(size: ConsoleSize(columns: 80, rows: 25))
        let driver = try TestDriver(device: sized)
        #expect(driver.read(MmioRegister.deviceID) == 3)
        let features = driver.deviceFeatures
        #expect(features & (1 << 0) != 0)  // F_SIZE
        #expect(features & (1 << 1) == 0)  // no F_MULTIPORT
        #expect(features & (1 << 2) != 0)  // F_EMERG_WRITE
        #expect(driver.transport.read(offset: MmioRegister.config, size: 2) == 80)
        #expect(driver.transport.read(offset: MmioRegister.config + 2, size: 2) == 25)
        #expect(driver.transport.read(offset: MmioRegister.config + 4, size: 4) == 1)  // max_nr_ports
        try driver.start()
        driver.write(MmioRegister.queueSelect, 2)
        #expect(driver.read(MmioRegister.queueSizeMaximum) == 0)  // two queues only

        let (plain, _) = makeConsole()
        let other = try TestDriver(device: plain)
        #expect(other.deviceFeatures & 1 == 0)
        #expect(other.transport.read(offset: MmioRegister.config, size: 4) == 0)
    }

    @Test("guest output reaches the sink in order, across chains and descriptors")
    func output() throws {
        let (console, sink) = makeConsole()
        let driver = try TestDriver(device: console)
        try driver.start()
        let pieces = ["Linux version", " 6.1 ", "(hvc0)\n", "login: "].map { Array($0.utf8) }
        try driver.post(queue: transmitQueue, [(try driver.place(pieces[0]), UInt32(pieces[0].count), false)])
        // One chain of two readable buffers, and a writable buffer the device must ignore.
        try driver.post(
            queue: transmitQueue,
            [
                (try driver.place(pieces[1]), UInt32(pieces[1].count), false),
                (try driver.place(pieces[2]), UInt32(pieces[2].count), false),
                (driver.allocate(16), 16, true),
            ])
        try driver.post(queue: transmitQueue, [(try driver.place(pieces[3]), UInt32(pieces[3].count), false)])
        let used = try driver.waitUsed(queue: transmitQueue, count: 3)
        #expect(used.map(\.length) == [0, 0, 0])
        try waitUntil { sink.bytes.count == pieces.joined().count }
        #expect(sink.bytes == Array(pieces.joined()))
        #expect(console.outputBytes == UInt64(pieces.joined().count))

        // Many chains at once (more than one batch), still in order.
        let lines = (0..<40).map { Array("line \($0)\n".utf8) }
        for line in lines {
            try driver.post(queue: transmitQueue, [(try driver.place(line), UInt32(line.count), false)], notify: false)
        }
        driver.write(MmioRegister.queueNotify, UInt32(transmitQueue))
        _ = try driver.waitUsed(queue: transmitQueue, count: 3 + lines.count)
        try waitUntil { sink.bytes.count == pieces.joined().count + lines.joined().count }
        #expect(sink.bytes == Array(pieces.joined()) + Array(lines.joined()))
    }

    @Test("the queues it holds while active, as they advance (a vhost-user daemon's GET_VRING_BASE)")
    func activeQueues() throws {
        let (console, _) = makeConsole()
        #expect(console.activeQueues == nil)
        let driver = try TestDriver(device: console)
        try driver.start()
        let line = Array("hello\n".utf8)
        for _ in 0..<3 { try driver.post(queue: transmitQueue, [(try driver.place(line), UInt32(line.count), false)]) }
        _ = try driver.waitUsed(queue: transmitQueue, count: 3)
        try waitUntil { console.activeQueues?[transmitQueue].nextAvailable == 3 }
        #expect(console.activeQueues?.count == 2)
        console.reset()
        #expect(console.activeQueues == nil)
    }

    @Test("input is delivered into receive buffers, split across chains, waiting for buffers when needed")
    func input() throws {
        let (console, _) = makeConsole()
        // Typed before the guest even has a driver.
        #expect(console.enqueueInput(Array("hello".utf8)) == 5)
        let driver = try TestDriver(device: console)
        try driver.start()
        #expect(console.enqueueInput(Array(" world".utf8)) == 6)
        #expect(console.pendingInputBytes == 11)

        let first = driver.allocate(4)
        try driver.post(queue: receiveQueue, [(first, 4, true)])
        #expect(try driver.waitUsed(queue: receiveQueue, count: 1).map(\.length) == [4])
        #expect(try driver.memory.read(count: 4, from: GuestAddress(first)) == Array("hell".utf8))

        // One chain of two buffers takes the rest.
        let second = driver.allocate(3)
        let third = driver.allocate(16)
        try driver.post(queue: receiveQueue, [(second, 3, true), (third, 16, true)])
        #expect(try driver.waitUsed(queue: receiveQueue, count: 2).map(\.length) == [7])
        let delivered =
            try driver.memory.read(count: 3, from: GuestAddress(second))
            + driver.memory.read(count: 4, from: GuestAddress(third))
        #expect(delivered == Array("o world".utf8))
        #expect(console.pendingInputBytes == 0)

        // With buffers already waiting, input goes straight in.
        let fourth = driver.allocate(8)
        try driver.post(queue: receiveQueue, [(fourth, 8, true)])
        #expect(try driver.queues[receiveQueue].usedIndex(driver.memory) == 2)
        #expect(console.enqueueInput([0x03]) == 1)  // ^C
        #expect(try driver.waitUsed(queue: receiveQueue, count: 3).map(\.length) == [1])
        #expect(try driver.memory.read(count: 1, from: GuestAddress(fourth)) == [0x03])
        #expect(console.droppedInputBytes == 0)
    }

    @Test("input beyond the buffer's capacity is dropped and counted")
    func inputBound() throws {
        let (console, _) = makeConsole(inputCapacity: 8)
        #expect(console.enqueueInput(Array("0123456789ab".utf8)) == 8)
        #expect(console.enqueueInput([1]) == 0)
        #expect(console.droppedInputBytes == 5)
        #expect(console.pendingInputBytes == 8)
        let driver = try TestDriver(device: console)
        try driver.start()
        let buffer = driver.allocate(64)
        try driver.post(queue: receiveQueue, [(buffer, 64, true)])
        #expect(try driver.waitUsed(queue: receiveQueue, count: 1).map(\.length) == [8])
        #expect(try driver.memory.read(count: 8, from: GuestAddress(buffer)) == Array("01234567".utf8))
        #expect(console.enqueueInput(Array("next".utf8)) == 4)
    }

    @Test("emergency writes are single output bytes, before and after the queues run")
    func emergencyWrite() throws {
        let (console, sink) = makeConsole()
        let driver = try TestDriver(device: console)
        for byte in Array("early".utf8) {
            driver.transport.write(offset: MmioRegister.config + 8, size: 4, value: UInt64(byte) | 0xffff_ff00)
        }
        #expect(sink.bytes == Array("early".utf8))
        // Writes to the read-only fields are ignored.
        driver.transport.write(offset: MmioRegister.config, size: 4, value: 0x4141_4141)
        driver.transport.write(offset: MmioRegister.config + 4, size: 4, value: 0x4141_4141)
        #expect(sink.bytes == Array("early".utf8))
        #expect(driver.transport.read(offset: MmioRegister.config + 4, size: 4) == 1)
        try driver.start()
        driver.transport.write(offset: MmioRegister.config + 8, size: 1, value: UInt64(UInt8(ascii: "!")))
        #expect(sink.bytes == Array("early!".utf8))
        #expect(console.outputBytes == 6)
    }

    @Test("hostile chains: read-only receive buffers, oversized output, buffers outside memory")
    func hostileChains() throws {
        let (console, sink) = makeConsole()
        let driver = try TestDriver(device: console)
        try driver.start()
        #expect(console.enqueueInput(Array("abc".utf8)) == 3)
        // A receive chain with nothing writable comes back empty; the input waits.
        try driver.post(queue: receiveQueue, [(driver.allocate(16), 16, false)])
        #expect(try driver.waitUsed(queue: receiveQueue, count: 1).map(\.length) == [0])
        #expect(console.pendingInputBytes == 3)
        let good = driver.allocate(16)
        try driver.post(queue: receiveQueue, [(good, 16, true)])
        #expect(try driver.waitUsed(queue: receiveQueue, count: 2).map(\.length) == [3])

        // More output in one chain than the per-chain limit: capped, the rest counted.
        let limit = ConsoleDevice<TestMemory>.maximumOutputPerChain
        let big = driver.allocate(limit + 1000)
        try driver.post(queue: transmitQueue, [(big, UInt32(limit + 1000), false)])
        _ = try driver.waitUsed(queue: transmitQueue, count: 1)
        try waitUntil { sink.bytes.count == limit }
        #expect(console.droppedOutputBytes == 1000)

        // A transmit buffer outside guest memory: the device is marked broken, nothing is output.
        let before = sink.bytes.count
        try driver.post(queue: transmitQueue, [(TestDriver<ConsoleDevice<TestMemory>>.memorySize - 8, 64, false)])
        try waitUntil { driver.transport.brokenReason != nil }
        #expect(driver.read(MmioRegister.status) & DeviceStatus.deviceNeedsReset.rawValue != 0)
        #expect(sink.bytes.count == before)
        // Input keeps buffering while the device is broken, and a reset brings it back.
        #expect(console.enqueueInput(Array("after".utf8)) == 5)
        let fresh = try TestDriver(device: console)
        try fresh.start()
        let buffer = fresh.allocate(16)
        try fresh.post(queue: receiveQueue, [(buffer, 16, true)])
        #expect(try fresh.waitUsed(queue: receiveQueue, count: 1).map(\.length) == [5])
        #expect(try fresh.memory.read(count: 5, from: GuestAddress(buffer)) == Array("after".utf8))
    }

    @Test("a sink that feeds output back as input (loopback) does not deadlock")
    func loopback() throws {
        let box = ConsoleBox()
        let console = ConsoleDevice<TestMemory> { bytes in
            _ = box.console.withLock { $0 }?.enqueueInput(bytes)
        }
        box.console.withLock { $0 = console }
        defer { box.console.withLock { $0 = nil } }  // breaks the device → closure → box cycle
        let driver = try TestDriver(device: console)
        try driver.start()
        let buffer = driver.allocate(32)
        try driver.post(queue: receiveQueue, [(buffer, 32, true)])
        let text = Array("echo me".utf8)
        try driver.post(queue: transmitQueue, [(try driver.place(text), UInt32(text.count), false)])
        #expect(try driver.waitUsed(queue: receiveQueue, count: 1).map(\.length) == [UInt32(text.count)])
        #expect(try driver.memory.read(count: text.count, from: GuestAddress(buffer)) == text)
    }
}
