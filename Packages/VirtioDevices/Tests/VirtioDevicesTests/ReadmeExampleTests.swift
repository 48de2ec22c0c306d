// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Testing
import VMDevice
import VMMemory
import VMMemoryLinux
import VirtioDevices

@Suite("README example")
struct ReadmeExampleTests {
    /// The README's steps without a VM: the interrupt group is an eventfd (what an irqfd is)
    /// and the MMIO bus is VMDevice's; a driver in the test plays the guest.
    @Test func entropyDeviceOnTheMMIOBus() throws {
        let memory = try GuestMemoryMap(regions: [MmapRegion.anonymous(at: GuestAddress(0), size: 64 << 20)])
        let io = try EventLoopThread.start()
        defer { _ = io.stopAndJoin() }
        let line = try EventFdInterruptGroup()
        try line.enable()
        let transport = try MmioTransport(
            device: EntropyDevice<GuestMemoryMap<MmapRegion>>(), interrupt: VirtioInterrupt(group: line, index: 0),
            eventLoop: io.remote, memory: memory)
        let mmioBus = MmioBus()
        try mmioBus.insert(transport, at: BusRange(base: 0xd000_0000, size: MmioTransport<TestMemory>.windowSize))
        #expect(try mmioBus.read(address: 0xd000_0000, size: 4) == 0x7472_6976)
        #expect(try mmioBus.read(address: 0xd000_0008, size: 4) == 4)
        let parameter = MmioTransport<TestMemory>.kernelParameter(base: 0xd000_0000, irq: 5)
        #expect(parameter == "virtio_mmio.device=4K@0xd0000000:5")
    }
}
