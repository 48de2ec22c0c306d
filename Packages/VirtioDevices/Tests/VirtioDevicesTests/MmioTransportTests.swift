// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMMemory
import VirtioDevices
import VirtioQueue

@Suite("virtio-mmio transport")
struct MmioTransportTests {
    @Test("identity registers and the offered features")
    func identity() throws {
        let driver = try TestDriver(device: EntropyDevice<TestMemory>())
        #expect(driver.read(MmioRegister.magicValue) == 0x7472_6976)
        #expect(driver.read(MmioRegister.version) == 2)
        #expect(driver.read(MmioRegister.deviceID) == 4)
        #expect(driver.read(MmioRegister.vendorID) == MmioTransport<TestMemory>.vendor)
        let features = driver.deviceFeatures
        #expect(features & VirtioFeature.version1 != 0)
        #expect(features & VirtioFeature.ringEventIndex != 0)
        #expect(features & VirtioFeature.ringPacked == 0)
        #expect(features & VirtioFeature.accessPlatform == 0)
        #expect(driver.read(MmioRegister.sharedMemoryLengthLow) == .max)
        let parameter = MmioTransport<TestMemory>.kernelParameter(base: 0xd000_0000, irq: 5)
        #expect(parameter == "virtio_mmio.device=4K@0xd0000000:5")
    }

    @Test("FEATURES_OK is refused without VERSION_1 or with features never offered")
    func featureNegotiation() throws {
        let driver = try TestDriver(device: EntropyDevice<TestMemory>())
        let refused: [UInt64] = [
            0, VirtioFeature.version1 | 1 << 40, VirtioFeature.version1 | VirtioFeature.ringPacked,
        ]
        for features in refused {
            driver.write(MmioRegister.status, 0)
            driver.write(MmioRegister.status, 3)
            driver.write(MmioRegister.driverFeaturesSelect, 0)
            driver.write(MmioRegister.driverFeatures, UInt32(truncatingIfNeeded: features))
            driver.write(MmioRegister.driverFeaturesSelect, 1)
            driver.write(MmioRegister.driverFeatures, UInt32(truncatingIfNeeded: features >> 32))
            driver.write(MmioRegister.status, 3 | 8)
            #expect(driver.read(MmioRegister.status) & 8 == 0, "features \(String(features, radix: 16)) accepted")
            // DRIVER_OK without FEATURES_OK does not start the device either.
            driver.write(MmioRegister.status, 3 | 4)
            #expect(driver.read(MmioRegister.status) & 4 == 0)
        }
        try driver.start()
        #expect(driver.transport.status == [.acknowledge, .driver, .featuresOK, .driverOK])
        #expect(driver.transport.driverFeatures & VirtioFeature.version1 != 0)
    }

    @Test("queue registers: out-of-range select, writes outside the window, read back addresses")
    func queueRegisters() throws {
        let driver = try TestDriver(device: EntropyDevice<TestMemory>())
        driver.write(MmioRegister.queueSelect, 7)
        #expect(driver.read(MmioRegister.queueSizeMaximum) == 0)
        driver.write(MmioRegister.queueSize, 16)  // ignored: no such queue, and not in FEATURES_OK yet
        driver.write(MmioRegister.queueSelect, 0)
        #expect(driver.read(MmioRegister.queueSizeMaximum) == 256)
        driver.write(MmioRegister.queueSize, 16)
        #expect(driver.read(MmioRegister.queueSize) == 256, "queue size changed before FEATURES_OK")
        try driver.start(queueSize: 32)
        driver.write(MmioRegister.queueSelect, 0)
        #expect(driver.read(MmioRegister.queueSize) == 32)
        #expect(UInt64(driver.read(MmioRegister.queueDescriptorLow)) == driver.queues[0].descriptors)
        #expect(UInt64(driver.read(MmioRegister.queueDeviceLow)) == driver.queues[0].used)
        // After DRIVER_OK the queue configuration is frozen.
        driver.write(MmioRegister.queueDescriptorLow, 0x5000)
        #expect(UInt64(driver.read(MmioRegister.queueDescriptorLow)) == driver.queues[0].descriptors)
        // Narrow and unaligned register accesses are ignored.
        #expect(driver.transport.read(offset: MmioRegister.magicValue, size: 1) == 0)
        driver.transport.write(offset: MmioRegister.status + 1, size: 4, value: 0)
        #expect(driver.transport.status.contains(.driverOK))
    }

    @Test("a ring outside guest memory leaves the queue disabled")
    func ringOutsideMemory() throws {
        let driver = try TestDriver(device: EntropyDevice<TestMemory>())
        driver.acceptVersion1SelectingQueue0()
        driver.write(MmioRegister.queueSize, 64)
        driver.write(MmioRegister.queueDescriptorLow, 0)
        driver.write(MmioRegister.queueDescriptorLow + 4, 0x10)  // 64 GiB: not guest memory
        driver.write(MmioRegister.queueReady, 1)
        #expect(driver.read(MmioRegister.queueReady) == 0)
        driver.write(MmioRegister.queueSize, 3)  // not a power of two
        driver.write(MmioRegister.queueDescriptorLow + 4, 0)
        driver.write(MmioRegister.queueReady, 1)
        #expect(driver.read(MmioRegister.queueReady) == 0)
        // DRIVER_OK with the queue disabled: the device cannot start and says so.
        driver.write(MmioRegister.status, 3 | 8 | 4)
        #expect(driver.transport.status.contains(.deviceNeedsReset))
        #expect(driver.transport.brokenReason?.contains("not enabled") == true)
        #expect(driver.interrupts.take() == 1)
        #expect(driver.read(MmioRegister.interruptStatus) == 2)
        driver.write(MmioRegister.interruptAcknowledge, 2)
        #expect(driver.read(MmioRegister.interruptStatus) == 0)
    }

    @Test("an enabled queue keeps its validated size and rings (found by the mmio-transport fuzz target)")
    func enabledQueueIsFrozen() throws {
        let driver = try TestDriver(device: EntropyDevice<TestMemory>())
        driver.acceptVersion1SelectingQueue0()
        driver.write(MmioRegister.queueSize, 16)
        driver.write(MmioRegister.queueDescriptorLow, 0x1000)
        driver.write(MmioRegister.queueDriverLow, 0x1100)
        driver.write(MmioRegister.queueDeviceLow, 0x1200)
        driver.write(MmioRegister.queueReady, 1)
        #expect(driver.read(MmioRegister.queueReady) == 1)
        // Moving a ring out of guest memory or changing the size while enabled is ignored.
        driver.write(MmioRegister.queueDriverLow + 4, 0x7dff_ffdf)
        driver.write(MmioRegister.queueDescriptorLow, 0x2000)
        driver.write(MmioRegister.queueSize, 3)
        #expect(driver.read(MmioRegister.queueDriverLow + 4) == 0)
        #expect(driver.read(MmioRegister.queueDescriptorLow) == 0x1000)
        #expect(driver.read(MmioRegister.queueSize) == 16)
        // Disabled again, the queue may be reconfigured (and is validated when re-enabled).
        driver.write(MmioRegister.queueReady, 0)
        driver.write(MmioRegister.queueDescriptorLow, 0x2000)
        #expect(driver.read(MmioRegister.queueDescriptorLow) == 0x2000)
        driver.write(MmioRegister.queueReady, 1)
        #expect(driver.read(MmioRegister.queueReady) == 1)
    }

    @Test("reset returns the transport to its initial state and the device can start again")
    func reset() throws {
        let driver = try TestDriver(device: EntropyDevice<TestMemory>())
        try driver.start()
        let generation = driver.read(MmioRegister.configGeneration)
        driver.write(MmioRegister.status, 0)
        #expect(driver.transport.status == [])
        #expect(driver.transport.driverFeatures == 0)
        #expect(driver.read(MmioRegister.configGeneration) != generation)
        driver.write(MmioRegister.queueSelect, 0)
        #expect(driver.read(MmioRegister.queueReady) == 0)
        try driver.start()
        let buffer = driver.allocate(16)
        driver.queues[0].lastSeenUsed = 0
        try driver.post(queue: 0, [(buffer, 16, true)])
        #expect(try driver.waitUsed(queue: 0, count: 1).first?.length == 16)
    }

    @Test("a looping descriptor chain marks the device broken; the transport keeps answering")
    func hostileChain() throws {
        let device = EntropyDevice<TestMemory>()
        let driver = try TestDriver(device: device)
        try driver.start()
        let buffer = driver.allocate(64)
        // Descriptor 0 -> 1 -> 0: a loop.
        try driver.queues[0].writeDescriptor(0, address: buffer, length: 8, flags: 3, next: 1, memory: driver.memory)
        try driver.queues[0].writeDescriptor(1, address: buffer, length: 8, flags: 3, next: 0, memory: driver.memory)
        try driver.queues[0].writeRawChainHead(0, memory: driver.memory)
        driver.write(MmioRegister.queueNotify, 0)
        let deadline = ContinuousClock.now + .seconds(10)
        while driver.transport.brokenReason == nil && ContinuousClock.now < deadline { usleep(1000) }
        #expect(driver.transport.brokenReason != nil)
        #expect(driver.transport.status.contains(.deviceNeedsReset))
        #expect(driver.read(MmioRegister.interruptStatus) & 2 != 0)
        #expect(device.bytesServed == 0)
        // Notifications after that are ignored until a reset; a reset brings it back.
        driver.write(MmioRegister.queueNotify, 0)
        driver.write(MmioRegister.status, 0)
        try driver.start()
        try driver.post(queue: 0, [(buffer, 32, true)])
        #expect(try driver.waitUsed(queue: 0, count: 1).first?.length == 32)
    }
}

extension TestDriver {
    /// ACKNOWLEDGE | DRIVER, VERSION_1 only, FEATURES_OK, then QueueSel = 0: the state in which
    /// a driver configures its first queue.
    func acceptVersion1SelectingQueue0() {
        write(MmioRegister.status, 3)
        write(MmioRegister.driverFeaturesSelect, 1)
        write(MmioRegister.driverFeatures, 1)
        write(MmioRegister.status, 3 | 8)
        write(MmioRegister.queueSelect, 0)
    }
}
