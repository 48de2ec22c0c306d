// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Synchronization
import VMDevice
import VMMemory
import VirtioQueue

@testable import VirtioDevices

// Input layout:
//   byte 0      bit 0: the console transport (two queues, configuration space,
//               packed rings offered), else the entropy transport (one queue)
//   then        7-byte register accesses: kind (bit 7 write, bits 0-1 width
//               1/2/4/8), offset (2 bytes, within the 4 KiB window), value (4 bytes)

/// Bytes per register access.
let accessSize = 7

/// An interrupt line that only counts: the transport's interrupt status is what is checked.
final class CountingInterruptGroup: InterruptSourceGroup, Sendable {
    let triggers = Atomic<Int>(0)
    var count: Int { 1 }
    func enable() throws(InterruptError) {}
    func disable() throws(InterruptError) {}
    func update(index: Int, route: InterruptRoute, masked: Bool) throws(InterruptError) {}
    func trigger(index: Int) throws(InterruptError) { triggers.add(1, ordering: .relaxed) }
}

typealias FuzzMemory = GuestMemoryMap<BufferRegion>

/// One event loop and two transports for the whole run: a transport's queue notifiers
/// stay registered with the loop, so making one per execution would leak descriptors.
/// Each execution starts and ends with a reset, as a guest driver's probe would.
let eventLoop: EventLoopThread = {
    guard let loop = try? EventLoopThread.start() else { fatalError("cannot start the event loop") }
    return loop
}()

func makeTransport(_ device: any VirtioDevice<FuzzMemory>, packed: Bool) -> MmioTransport<FuzzMemory> {
    let interrupt = VirtioInterrupt(group: CountingInterruptGroup(), index: 0)
    guard
        let transport = try? MmioTransport(
            device: device, interrupt: interrupt, eventLoop: eventLoop.remote, memory: fuzzMemory,
            offerPackedRing: packed)
    else { fatalError("cannot create the transport") }
    return transport
}

let entropyTransport = makeTransport(EntropyDevice<FuzzMemory>(), packed: false)
let consoleTransport = makeTransport(
    ConsoleDevice<FuzzMemory>(size: ConsoleSize(columns: 80, rows: 25), output: { _ in }), packed: true)

func read32(_ transport: MmioTransport<FuzzMemory>, _ offset: UInt64) -> UInt32 {
    UInt32(truncatingIfNeeded: transport.read(offset: offset, size: 4))
}

/// What the transport promises after every access; a violation crashes the fuzzer.
func checkStatus(_ transport: MmioTransport<FuzzMemory>) {
    let status = transport.status
    precondition(UInt32(read32(transport, MmioRegister.status)) == status.rawValue, "status register disagrees")
    if status.contains(.featuresOK) {
        let features = transport.driverFeatures
        precondition(features & ~transport.offeredFeatures == 0, "FEATURES_OK with features never offered")
        precondition(features & VirtioFeature.version1 != 0, "FEATURES_OK without VERSION_1")
    }
    precondition(!status.contains(.driverOK) || status.contains(.featuresOK), "DRIVER_OK without FEATURES_OK")
    precondition(read32(transport, MmioRegister.magicValue) == 0x7472_6976, "magic")
    precondition(read32(transport, MmioRegister.version) == 2, "version")
    precondition(read32(transport, MmioRegister.deviceID) == transport.device.deviceType.rawValue, "device ID")
}

/// Every queue the driver reads back as ready has a valid size and rings inside guest
/// memory. Reads the queue registers, so it moves QueueSel; runs once per execution.
func checkQueues(_ transport: MmioTransport<FuzzMemory>) {
    let packed = transport.driverFeatures & VirtioFeature.ringPacked != 0
    for index in transport.device.queueMaximumSizes.indices {
        transport.write(offset: MmioRegister.queueSelect, size: 4, value: UInt64(index))
        guard read32(transport, MmioRegister.queueReady) == 1 else { continue }
        func address(_ low: UInt64) -> GuestAddress {
            GuestAddress(UInt64(read32(transport, low)) | UInt64(read32(transport, low + 4)) << 32)
        }
        let maximum = UInt16(read32(transport, MmioRegister.queueSizeMaximum))
        guard var queue = try? Virtqueue(maximumSize: maximum) else { preconditionFailure("maximum size") }
        queue.format = packed ? .packed : .split
        queue.size = UInt16(truncatingIfNeeded: read32(transport, MmioRegister.queueSize))
        queue.descriptorArea = address(MmioRegister.queueDescriptorLow)
        queue.driverArea = address(MmioRegister.queueDriverLow)
        queue.deviceArea = address(MmioRegister.queueDeviceLow)
        precondition((try? queue.validate(in: fuzzMemory)) != nil, "a ready queue failed validation")
    }
}

/// libFuzzer entry: reset, apply the register accesses, check after each one, reset.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMmioTransport(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = inputBytes(data, size)
    guard !input.isEmpty else { return 0 }
    let transport = input[0] & 1 != 0 ? consoleTransport : entropyTransport
    transport.write(offset: MmioRegister.status, size: 4, value: 0)
    precondition(transport.status == [] && transport.driverFeatures == 0, "reset left state behind")
    var cursor = 1
    var accesses = 0
    while cursor + accessSize <= input.count && accesses < 256 {
        accesses += 1
        let kind = input[cursor]
        let width = 1 << Int(kind & 3)
        let offset = UInt64(little16(input, cursor + 1)) % MmioTransport<FuzzMemory>.windowSize
        var value: UInt64 = 0
        for index in 0..<4 { value |= UInt64(input[cursor + 3 + index]) << (8 * index) }
        cursor += accessSize
        if kind & 0x80 != 0 {
            transport.write(offset: offset, size: width, value: value)
        } else {
            let result = transport.read(offset: offset, size: width)
            // Register reads are 32-bit only; configuration reads return at most `width` bytes.
            if offset < MmioRegister.config && width != 4 { precondition(result == 0, "narrow register read") }
            if width < 8 { precondition(result >> (8 * width) == 0, "read wider than the access") }
        }
        checkStatus(transport)
    }
    checkQueues(transport)
    transport.write(offset: MmioRegister.status, size: 4, value: 0)
    return 0
}
