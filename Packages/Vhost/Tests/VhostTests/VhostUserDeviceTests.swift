// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Foundation
import Synchronization
import Testing
import VMDevice
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import Vhost
import VhostUser
import VirtioDevices

/// An interrupt group whose trigger writes an eventfd, as an irqfd does, but which cannot
/// give the eventfd away: the device then uses call eventfds of its own (the fallback path).
final class CountingInterruptGroup: InterruptSourceGroup, Sendable {
    let event: EventFd
    init() throws { event = try EventFd(flags: [.nonBlocking]) }
    var count: Int { 1 }
    func enable() throws(InterruptError) {}
    func disable() throws(InterruptError) {}
    func update(index: Int, route: InterruptRoute, masked: Bool) throws(InterruptError) {}
    func trigger(index: Int) throws(InterruptError) { try? event.signal() }
}

/// Collects the device's disconnect lines.
final class LineLog: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

@Suite("VhostUserDevice behind MmioTransport, against qemu-storage-daemon", .serialized)
struct VhostUserDeviceTests {
    /// Drives the transport's registers as Linux's virtio_mmio does, up to DRIVER_OK, with
    /// queue 0 at the hand-driven ring's addresses.
    func start(_ transport: MmioTransport<GuestMemoryMap<MmapRegion>>, _ queue: HandDrivenQueue) {
        func write(_ register: UInt64, _ value: UInt32) {
            transport.write(offset: register, size: 4, value: UInt64(value))
        }
        write(MmioRegister.status, 0)
        write(MmioRegister.status, 3)  // ACKNOWLEDGE | DRIVER
        write(MmioRegister.driverFeaturesSelect, 1)
        write(MmioRegister.driverFeatures, 1)  // VERSION_1
        write(MmioRegister.driverFeaturesSelect, 0)
        write(MmioRegister.driverFeatures, 0)
        write(MmioRegister.status, 0xb)  // + FEATURES_OK
        write(MmioRegister.queueSelect, 0)
        write(MmioRegister.queueSize, UInt32(HandDrivenQueue.size))
        write(MmioRegister.queueDescriptorLow, UInt32(queue.descriptors.rawValue))
        write(MmioRegister.queueDriverLow, UInt32(queue.available.rawValue))
        write(MmioRegister.queueDeviceLow, UInt32(queue.used.rawValue))
        write(MmioRegister.queueReady, 1)
        write(MmioRegister.status, 0xf)  // + DRIVER_OK
    }

    /// Posts a read of `sector` (header at 0x3000, data at 0x4000, status at 0x4200) as chain 0.
    func postRead(_ sector: UInt64, _ queue: inout HandDrivenQueue) throws {
        try queue.memory.writeLittleEndian(UInt32(0), to: GuestAddress(0x3000))
        try queue.memory.writeLittleEndian(sector, to: GuestAddress(0x3008))
        try queue.memory.write([UInt8](repeating: 0xee, count: 513), to: GuestAddress(0x4000))
        try queue.describe(0, 0x3000, 16, flags: 1, next: 1)
        try queue.describe(1, 0x4000, 512, flags: 1 | 2, next: 2)
        try queue.describe(2, 0x4200, 1, flags: 2, next: 0)
        try queue.offer(0)
    }

    func waitUntil(_ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if try condition() { return true }
            usleep(5_000)
        }
        return try condition()
    }

    @Test func aGuestDriverReadsThroughTheBackEndThenSurvivesItsDeath() throws {
        guard let daemon = try StorageDaemon.start(sectors: 2048) else { return }
        let region = try MmapRegion.memfd(at: GuestAddress(0), size: 1 << 20)
        let memory = try GuestMemoryMap(regions: [region])
        let loop = try EventLoopThread.start()
        defer { _ = loop.stopAndJoin() }
        let group = try CountingInterruptGroup()
        let lines = LineLog()
        let device = try VhostUserDevice(
            socketPath: daemon.socket, model: .block(queueSize: HandDrivenQueue.size), memory: memory,
            eventLoop: loop.remote
        ) { lines.append($0) }
        let transport = try MmioTransport(
            device: device, interrupt: VirtioInterrupt(group: group, index: 0), eventLoop: loop.remote,
            memory: memory)

        // What the guest sees comes from the back-end: the device ID, its capacity (2048
        // sectors), VERSION_1, and none of the vhost-user-only feature bits.
        #expect(transport.read(offset: MmioRegister.deviceID, size: 4) == 2)
        #expect(transport.read(offset: MmioRegister.config, size: 8) == 2048)
        #expect(transport.offeredFeatures & VirtioFeature.version1 != 0)
        #expect(transport.offeredFeatures & (VhostUserFeatures.protocolFeatures | 1 << 26) == 0)
        #expect(device.protocolFeatures.isSuperset(of: [.replyAck, .config]))

        var queue = HandDrivenQueue(memory: memory)
        start(transport, queue)
        #expect(transport.status.contains(.driverOK) && !transport.status.contains(.deviceNeedsReset))
        try postRead(7, &queue)
        // The notify register's MMIO-exit path: the transport writes the kick eventfd the back-end reads.
        transport.write(offset: MmioRegister.queueNotify, size: 4, value: 0)
        #expect(try waitUntil { try queue.usedIndex == 1 }, "the back-end did not use the request")
        #expect(try memory.read(count: 512, from: GuestAddress(0x4000)) == [UInt8](repeating: 7, count: 512))
        // The back-end's call reached the interrupt through the device's own call eventfd.
        #expect(waitUntil { transport.read(offset: MmioRegister.interruptStatus, size: 4) & 1 == 1 })

        // A driver reset stops the ring (GET_VRING_BASE); starting again from index 0 works.
        transport.write(offset: MmioRegister.status, size: 4, value: 0)
        #expect(transport.status.isEmpty)
        try memory.write([UInt8](repeating: 0, count: 0x3000), to: GuestAddress(0))
        queue = HandDrivenQueue(memory: memory)
        start(transport, queue)
        try postRead(9, &queue)
        transport.write(offset: MmioRegister.queueNotify, size: 4, value: 0)
        #expect(try waitUntil { try queue.usedIndex == 1 }, "the restarted ring was not served")
        #expect(try memory.read(count: 512, from: GuestAddress(0x4000)) == [UInt8](repeating: 9, count: 512))

        // The back-end dies: one line naming the socket, the device needs a reset and says so
        // with a configuration interrupt; nothing else breaks.
        daemon.stop()
        #expect(waitUntil { !lines.all.isEmpty })
        #expect(lines.all.count == 1 && lines.all[0].contains(daemon.socket), "\(lines.all)")
        #expect(transport.status.contains(.deviceNeedsReset))
        #expect(transport.read(offset: MmioRegister.interruptStatus, size: 4) & 2 == 2)
        #expect(device.disconnectReason != nil)
        // A new start is refused at once (no hang), and still only one line.
        start(transport, queue)
        #expect(transport.status.contains(.deviceNeedsReset))
        #expect(lines.all.count == 1, "\(lines.all)")
        _ = region
    }

    @Test func refusesAnonymousMemoryAndAMissingSocketWithOneClearError() throws {
        let anonymous = try GuestMemoryMap(regions: [MmapRegion.anonymous(at: GuestAddress(0), size: 1 << 20)])
        do {
            _ = try VhostUserMemoryShare(anonymous, socketPath: "/run/x.sock")
            Issue.record("anonymous memory was accepted")
        } catch {
            #expect(error.description.contains("memfd"), "\(error)")
        }
        let memory = try GuestMemoryMap(regions: [MmapRegion.memfd(at: GuestAddress(0x1000), size: 1 << 20)])
        let share = try VhostUserMemoryShare(memory, socketPath: "/run/x.sock")
        #expect(share.regions.count == 1 && share.descriptors.count == 1)
        let base = share.regions[0].userAddress
        #expect(share.userAddress(of: GuestAddress(0x1000), length: 1 << 20) == base)
        #expect(share.userAddress(of: GuestAddress(0x2000), length: 16) == base + 0x1000)
        #expect(share.userAddress(of: GuestAddress(0x1000), length: (1 << 20) + 1) == nil)
        #expect(share.userAddress(of: GuestAddress(0), length: 1) == nil)
        #expect(share.userAddress(of: GuestAddress(0x10_1000), length: 1) == nil)

        let loop = try EventLoopThread.start()
        defer { _ = loop.stopAndJoin() }
        do {
            _ = try VhostUserDevice(
                socketPath: "/nonexistent/vhost.sock", model: .block(), memory: memory, eventLoop: loop.remote
            ) { _ in }
            Issue.record("connected to a socket that does not exist")
        } catch {
            #expect(error.description.contains("/nonexistent/vhost.sock"), "\(error)")
        }
        #expect(throws: VhostUserFrontendError.self) { try VhostUserDeviceModel.filesystem(tag: "") }
        #expect(throws: VhostUserFrontendError.self) { try VhostUserDeviceModel.filesystem(tag: "t", requestQueues: 0) }
    }
}
