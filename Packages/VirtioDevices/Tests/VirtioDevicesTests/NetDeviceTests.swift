// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import Testing
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import VirtioDevices
import VirtioQueue

typealias Net = NetDevice<TestMemory>

@Suite("virtio-net")
struct NetDeviceTests {
    @Test("offers exactly what it implements; configuration space holds MAC, link status and MTU")
    func featuresAndConfiguration() throws {
        let net = try NetFixture(deviceMTU: 1500)
        defer { net.close() }
        let transportOwn = VirtioFeature.version1 | VirtioFeature.ringEventIndex | VirtioFeature.indirectDescriptors
        let expected =
            NetFeature.mac | NetFeature.status | NetFeature.checksum | NetFeature.guestChecksum | NetFeature.guestTSO4
            | NetFeature.guestTSO6 | NetFeature.hostTSO4 | NetFeature.hostTSO6 | NetFeature.mergeableReceiveBuffers
            | NetFeature.mtu
        #expect(net.driver.deviceFeatures & ~transportOwn == expected)
        #expect(net.driver.read(MmioRegister.deviceID) == VirtioDeviceType.net.rawValue)
        #expect(net.device.queueMaximumSizes == [256, 256])
        let config = net.configBytes(12)
        #expect(Array(config[0..<6]) == TestLink.guestMAC.bytes)
        #expect(config[6] == 1 && config[7] == 0, "status: LINK_UP")
        #expect(config[8] == 1 && config[9] == 0, "one queue pair")
        #expect(net.driver.transport.read(offset: MmioRegister.config + 10, size: 2) == 1500)
        #expect(net.driver.transport.read(offset: MmioRegister.config + 12, size: 1) == 0, "past the end")
        net.driver.transport.write(offset: MmioRegister.config, size: 4, value: 0xffff_ffff)
        #expect(net.configBytes(6) == TestLink.guestMAC.bytes, "the MAC is read-only")

        // Without an MTU: no MTU feature and a 10-byte configuration.
        let plain = try Net(tap: try Tap(), mac: TestLink.guestMAC)
        #expect(plain.deviceFeatures & NetFeature.mtu == 0)
        #expect(plain.configSize == 10)
        #expect(throws: VirtioDeviceError.self) { try Net(tap: try Tap(), mac: TestLink.guestMAC, mtu: 40) }
        #expect(throws: VirtioDeviceError.self) { try Net(tap: try Tap(), mac: TestLink.guestMAC, receiveBudget: 0) }
    }

    @Test("a guest frame reaches a host UDP socket through writev")
    func transmitUDP() throws {
        let net = try NetFixture()
        defer { net.close() }
        let socket = try HostSocket(type: SOCK_DGRAM)
        try socket.bind(TestLink.hostIP, 7000)
        let payload = Array("hello from the guest".utf8)
        let frame = Packet.udpFrame(payload, sourcePort: 4000, destinationPort: 7000)
        let head = try net.transmit(frame)
        let used = try net.driver.waitUsed(queue: 1, count: 1)
        #expect(used.map(\.id) == [UInt32(head)])
        #expect(used.map(\.length) == [0])
        let datagram = try #require(try socket.receiveDatagram(timeout: .seconds(5)))
        #expect(datagram.bytes == payload)
        #expect(datagram.sourceIP == TestLink.guestIP)
        #expect(datagram.sourcePort == 4000)
        #expect(net.device.transmittedFrames == 1)
        #expect(net.device.transmittedBytes == UInt64(frame.count))
        #expect(net.device.transmitDrops == 0)
        #expect(net.driver.interrupts.take() >= 1)
    }

    @Test(
        "a host datagram arrives in the receive buffers with a valid header",
        arguments: [
            ReceiveVariant.mergeable, ReceiveVariant.singleChain, ReceiveVariant.noGuestChecksum,
        ])
    func receiveUDP(variant: ReceiveVariant) throws {
        let net = try NetFixture(accept: variant.accepted)
        defer { net.close() }
        try net.receive.post(count: 64, size: 2048)
        let socket = try HostSocket(type: SOCK_DGRAM)
        try socket.bind(TestLink.hostIP, 6000)
        let payload = Array("datagram for the guest".utf8)
        try socket.send(payload, to: TestLink.guestIP, port: 9000)
        let frame = try #require(try net.receive.frames(1).first)
        #expect(frame.numBuffers == 1, "the buffers were poisoned with 0xa5: the device must write num_buffers")
        #expect(frame.gsoType == 0)
        #expect(frame.destination == TestLink.guestMAC.bytes)
        #expect(frame.source == TestLink.hostMAC)
        #expect(frame.etherType == 0x0800)
        let udp = try #require(frame.udp)
        #expect(udp.sourcePort == 6000 && udp.destinationPort == 9000)
        #expect(udp.payload == payload)
        if variant == .noGuestChecksum {
            #expect(frame.flags == 0, "without GUEST_CSUM the device clears the flags")
            #expect(udp.checksumVerifies, "without GUEST_CSUM the kernel completes the checksum")
        } else if frame.flags & 1 != 0 {
            // NEEDS_CSUM: where the guest must finish the UDP checksum.
            #expect(frame.checksumStart == 34 && frame.checksumOffset == 6)
        }
        #expect(net.device.receivedFrames == 1)
        #expect(net.device.receivedBytes == UInt64(frame.frame.count))
        #expect(net.device.receiveDrops == 0)
        #expect(net.driver.interrupts.take() >= 1)
    }

    @Test("mergeable buffers: a 60000-byte frame spreads over chains and num_buffers counts them")
    func mergeableLargeFrame() throws {
        let net = try NetFixture(tapMTU: 65000)
        defer { net.close() }
        try net.receive.post(count: 64, size: 2048)
        let socket = try HostSocket(type: SOCK_DGRAM)
        try socket.bind(TestLink.hostIP, 6000)
        let payload = (0..<60000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        try socket.send(payload, to: TestLink.guestIP, port: 9000)
        let frame = try #require(try net.receive.frames(1).first)
        let total = Net.headerSize + 14 + 20 + 8 + payload.count
        let chains = (total + 2047) / 2048
        #expect(Int(frame.numBuffers) == chains)
        #expect(frame.chainLengths.count == chains)
        #expect(frame.chainLengths.dropLast().allSatisfy { $0 == 2048 })
        #expect(frame.chainLengths.reduce(0) { $0 + Int($1) } == total)
        #expect(frame.udp?.payload == payload)
        #expect(net.device.receivedBytes == UInt64(total - Net.headerSize))
    }

    @Test("mergeable buffers: the device waits for room for a 64 KiB frame, or for the whole of a small ring")
    func mergeableRoom() throws {
        let net = try NetFixture(tapMTU: 65000)
        defer { net.close() }
        let socket = try HostSocket(type: SOCK_DGRAM)
        try socket.bind(TestLink.hostIP, 6000)
        try net.receive.post(count: 8, size: 2048)  // 16 KiB of a 64-entry ring
        try socket.send([1], to: TestLink.guestIP, port: 9000)
        usleep(300_000)
        #expect(try net.driver.queues[0].usedIndex(net.driver.memory) == 0, "a frame went into too little room")
        try net.receive.post(count: 25, size: 2048)  // 33 * 2048 > 12 + 65554
        #expect(try net.receive.frames(1).first?.udp?.payload == [1])

        // A ring that can never hold 64 KiB: once the device holds all of it, frames flow.
        try net.restart(queueSize: 8)
        let small = ReceiveQueue(driver: net.driver)
        small.recycle = true
        try small.post(count: 8, size: 2048)
        try socket.send([2], to: TestLink.guestIP, port: 9000)
        #expect(try small.frames(1).first?.udp?.payload == [2])
        try socket.send([UInt8](repeating: 3, count: 20000), to: TestLink.guestIP, port: 9000)
        #expect(waitUntil { net.device.receiveDrops == 1 }, "a frame larger than the whole ring is dropped")
        try socket.send([4], to: TestLink.guestIP, port: 9000)
        #expect(try small.frames(1).first?.udp?.payload == [4])
    }

    @Test("without mergeable buffers a frame larger than the chain is dropped and the chain serves the next")
    func singleChainTooSmall() throws {
        let net = try NetFixture(accept: ~NetFeature.mergeableReceiveBuffers, tapMTU: 9000)
        defer { net.close() }
        try net.receive.post(count: 1, size: 1526)
        let socket = try HostSocket(type: SOCK_DGRAM)
        try socket.bind(TestLink.hostIP, 6000)
        try socket.send([UInt8](repeating: 7, count: 4000), to: TestLink.guestIP, port: 9000)
        #expect(waitUntil { net.device.receiveDrops == 1 })
        let small = Array("fits".utf8)
        try socket.send(small, to: TestLink.guestIP, port: 9000)
        let frame = try #require(try net.receive.frames(1).first)
        #expect(frame.udp?.payload == small)
        #expect(net.device.receivedFrames == 1)
        #expect(net.device.receiveDrops == 1)
    }

    @Test("the tap's offloads follow the features each activation accepted")
    func offloadNegotiation() throws {
        #expect(Net.tapOffloads(forGuestFeatures: 0) == [])
        #expect(Net.tapOffloads(forGuestFeatures: NetFeature.guestTSO4) == [], "TSO needs GUEST_CSUM")
        #expect(
            Net.tapOffloads(forGuestFeatures: NetFeature.guestChecksum | NetFeature.guestTSO6) == [.checksum, .tcp6])
        let net = try NetFixture()
        defer { net.close() }
        #expect(try ethtoolFlag(net.tap.name, EthtoolCommand.segmentation) == true)
        #expect(try ethtoolFlag(net.tap.name, EthtoolCommand.transmitChecksum) == true)
        try net.restart(accept: ~(NetFeature.guestTSO4 | NetFeature.guestTSO6))
        #expect(try ethtoolFlag(net.tap.name, EthtoolCommand.segmentation) == false)
        #expect(try ethtoolFlag(net.tap.name, EthtoolCommand.transmitChecksum) == true)
        try net.restart(accept: ~(NetFeature.guestChecksum | NetFeature.guestTSO4 | NetFeature.guestTSO6))
        #expect(try ethtoolFlag(net.tap.name, EthtoolCommand.segmentation) == false)
        #expect(try ethtoolFlag(net.tap.name, EthtoolCommand.transmitChecksum) == false)
    }

    @Test(
        "TCP: host segments reach the guest as GSO frames only with GUEST_TSO4; guest GSO frames reach the host",
        arguments: [true, false])
    func tcpSegmentationOffload(guestTSO: Bool) throws {
        let accept: UInt64 = guestTSO ? .max : ~(NetFeature.guestTSO4 | NetFeature.guestTSO6)
        let net = try NetFixture(accept: accept)
        defer { net.close() }
        try net.receive.post(count: 64, size: 4096)
        net.receive.recycle = true
        let client = try HostSocket(type: SOCK_STREAM)
        try client.bind(TestLink.hostIP, 0)
        try client.connect(TestLink.guestIP, 5555)

        // The handshake, with the test playing the guest's TCP.
        let frames = try net.receive.frames(until: { $0.contains { $0.tcp?.isSyn == true } })
        let syn = try #require(frames.first { $0.tcp?.isSyn == true }?.tcp)
        let guestSequence: UInt32 = 1000
        let hostSequence = syn.sequence &+ 1
        let mss: [UInt8] = [2, 4, 0x05, 0xb4]  // 1460
        try net.transmit(
            Packet.tcpFrame(
                sourcePort: 5555, destinationPort: syn.sourcePort, sequence: guestSequence,
                acknowledgment: hostSequence, flags: Packet.syn | Packet.ack, options: mss))
        #expect(client.wait(for: Int16(POLLOUT), timeout: .seconds(5)))
        #expect(client.pendingError == 0)

        // Host to guest: the first flight (up to 10 segments).
        let data = (0..<20000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let sent = try client.send(data)
        #expect(sent >= 2920)
        let dataFrames = try net.receive.frames(until: { frames in
            frames.reduce(0) { $0 + ($1.tcp?.payload.count ?? 0) } >= 2920
        }).filter { $0.tcp.map { !$0.payload.isEmpty } ?? false }
        for frame in dataFrames {
            let segment = try #require(frame.tcp)
            let offset = Int(segment.sequence &- hostSequence)
            #expect(offset >= 0 && offset + segment.payload.count <= data.count)
            #expect(segment.payload == Array(data[offset..<offset + segment.payload.count]), "bytes at \(offset)")
        }
        if guestTSO {
            let large = try #require(dataFrames.first { $0.gsoType == 1 }, "no TCPv4 GSO frame reached the guest")
            #expect(large.frame.count > 1514)
            #expect(large.gsoSize > 0 && large.gsoSize <= 1460)
            #expect(large.flags & 1 != 0, "GSO frames carry NEEDS_CSUM")
        } else {
            #expect(dataFrames.count >= 2)
            #expect(dataFrames.allSatisfy { $0.gsoType == 0 && $0.frame.count <= 1514 })
        }

        // Guest to host: one 3000-byte TCP frame the tap segments (HOST_TSO4), checksum left to it (CSUM).
        let upload = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let segment = Packet.tcpFrame(
            sourcePort: 5555, destinationPort: syn.sourcePort, sequence: guestSequence &+ 1,
            acknowledgment: hostSequence, flags: Packet.ack | Packet.push, payload: upload, partialChecksum: true)
        let header = Packet.virtioHeader(
            flags: 1, gsoType: 1, headerLength: 54, gsoSize: 1000, checksumStart: 34, checksumOffset: 16)
        try net.transmit(segment, header: header)
        #expect(try client.receive(count: upload.count, timeout: .seconds(5)) == upload)
        #expect(net.device.transmitDrops == 0)
    }

    @Test("without receive buffers the device stops watching the tap; a queue 0 notification resumes it")
    func pauseAndResume() throws {
        let net = try NetFixture()
        defer { net.close() }
        let socket = try HostSocket(type: SOCK_DGRAM)
        try socket.bind(TestLink.hostIP, 6000)
        for index in 0..<5 { try socket.send([UInt8(index)], to: TestLink.guestIP, port: 9000) }
        usleep(300_000)
        let paused = net.device.receiveWakeups
        #expect(paused >= 1 && paused <= 2, "\(paused) wake-ups for frames it could not take")
        usleep(300_000)
        #expect(net.device.receiveWakeups == paused, "the loop kept waking for a readable tap")
        try net.receive.post(count: 64, size: 2048)
        let frames = try net.receive.frames(5)
        #expect(frames.map { $0.udp?.payload.first } == [0, 1, 2, 3, 4])
        #expect(net.device.receiveDrops == 0)
    }

    @Test("each wake-up moves at most receiveBudget frames; transmit continues past its budget")
    func budgets() throws {
        let net = try NetFixture(receiveBudget: 4, transmitBudget: 8)
        defer { net.close() }
        let socket = try HostSocket(type: SOCK_DGRAM)
        try socket.bind(TestLink.hostIP, 7000)
        for index in 0..<40 { try socket.send([UInt8(index)], to: TestLink.guestIP, port: 9000) }
        usleep(200_000)
        let before = net.device.receiveWakeups
        net.receive.recycle = true  // as a driver does: the device waits for room for a 64 KiB frame
        try net.receive.post(count: 64, size: 2048)
        let frames = try net.receive.frames(40)
        #expect(frames.map { $0.udp?.payload.first } == (0..<40).map { UInt8($0) })
        #expect(net.device.receiveWakeups - before >= 10, "40 frames at 4 per wake-up")

        // 48 one-descriptor transmit chains, one notification, budget 8.
        for index in 0..<48 {
            let frame = Packet.udpFrame([UInt8(index)], sourcePort: 4000, destinationPort: 7000)
            let address = try net.driver.place([UInt8](repeating: 0, count: Net.headerSize) + frame)
            try net.driver.post(queue: 1, [(address, UInt32(Net.headerSize + frame.count), false)], notify: false)
        }
        net.driver.write(MmioRegister.queueNotify, 1)
        #expect(try net.driver.waitUsed(queue: 1, count: 48).count == 48)
        var payloads: [UInt8] = []
        while let datagram = try socket.receiveDatagram(timeout: .seconds(2)) {
            payloads += datagram.bytes
            if payloads.count == 48 { break }
        }
        #expect(payloads == (0..<48).map { UInt8($0) })
        #expect(net.device.transmittedFrames == 48)
    }

    @Test("hostile transmit chains are dropped and counted; the device carries on")
    func hostileTransmit() throws {
        let net = try NetFixture()
        defer { net.close() }
        let socket = try HostSocket(type: SOCK_DGRAM)
        try socket.bind(TestLink.hostIP, 7000)
        let zeroHeader = [UInt8](repeating: 0, count: Net.headerSize)
        let frame = Packet.udpFrame(Array("dropped".utf8), sourcePort: 4000, destinationPort: 7000)
        let header = try net.driver.place(zeroHeader)
        let body = try net.driver.place(frame)
        // A writable buffer in a transmit chain.
        try net.driver.post(
            queue: 1,
            [(header, 12, false), (body, UInt32(frame.count), false), (net.driver.allocate(64), 64, true)])
        // A header shorter than 12 bytes, then a chain of one empty buffer.
        try net.driver.post(queue: 1, [(header, 5, false)])
        try net.driver.post(queue: 1, [(header, 0, false)])
        // One byte longer than the largest frame.
        let huge = net.driver.allocate(Net.headerSize + Net.maximumFrameLength + 1)
        try net.driver.post(queue: 1, [(huge, UInt32(Net.headerSize + Net.maximumFrameLength + 1), false)])
        // Nonsense offload fields: the kernel refuses or discards such a frame, never the device crashes.
        let garbage = Packet.virtioHeader(
            flags: 0xff, gsoType: 1, headerLength: 0xffff, gsoSize: 1, checksumStart: 0xfff0, checksumOffset: 0xfff0,
            numBuffers: 0xffff)
        try net.transmit(frame, header: garbage)
        // num_buffers means nothing on transmit: a frame with 0xffff there goes out.
        let abused = Packet.udpFrame(Array("num_buffers ignored".utf8), sourcePort: 4000, destinationPort: 7000)
        try net.transmit(abused, header: Packet.virtioHeader(numBuffers: 0xffff))
        let good = Packet.udpFrame(Array("still working".utf8), sourcePort: 4000, destinationPort: 7000)
        try net.transmit(good)
        let used = try net.driver.waitUsed(queue: 1, count: 7)
        #expect(used.count == 7 && used.allSatisfy { $0.length == 0 })
        #expect(net.device.rejectedChains == 1)
        #expect(net.device.transmitDrops >= 4)
        #expect(net.device.transmitDrops + net.device.transmittedFrames == 7)
        #expect(try socket.receiveDatagram(timeout: .seconds(5))?.bytes == Array("num_buffers ignored".utf8))
        #expect(try socket.receiveDatagram(timeout: .seconds(5))?.bytes == Array("still working".utf8))
        #expect(net.driver.transport.brokenReason == nil)
    }

    @Test("hostile receive chains come back empty; a header split over descriptors is still filled in")
    func hostileReceive() throws {
        let net = try NetFixture(accept: ~NetFeature.mergeableReceiveBuffers)
        defer { net.close() }
        let readOnly = try net.receive.post(chain: [(2048, false)])
        let tooSmall = try net.receive.post(chain: [(8, true)])
        let empty = try net.receive.post(chain: [(0, true)])
        let split = try net.receive.post(chain: [(4, true), (4, true), (4, true), (2000, true)])
        let socket = try HostSocket(type: SOCK_DGRAM)
        try socket.bind(TestLink.hostIP, 6000)
        let payload = Array("header in pieces".utf8)
        try socket.send(payload, to: TestLink.guestIP, port: 9000)
        let frame = try #require(try net.receive.frames(1).first)
        #expect(frame.head == split)
        #expect(frame.numBuffers == 1)
        #expect(frame.udp?.payload == payload)
        #expect(net.receive.emptyReturns == [UInt32(readOnly), UInt32(tooSmall), UInt32(empty)])
        #expect(net.device.rejectedChains == 3)
        #expect(net.driver.transport.brokenReason == nil)
    }

    @Test("buffers outside guest memory mark the device broken; a reset brings it back")
    func outOfRangeBuffers() throws {
        let net = try NetFixture()
        defer { net.close() }
        let socket = try HostSocket(type: SOCK_DGRAM)
        try socket.bind(TestLink.hostIP, 7000)
        let end = TestDriver<Net>.memorySize
        try net.driver.post(queue: 1, [(end - 16, 64, false)])
        #expect(waitUntil { net.driver.transport.brokenReason != nil })
        #expect(net.driver.transport.brokenReason?.contains("queue 1") == true)
        #expect(net.driver.transport.status.contains(.deviceNeedsReset))

        try net.restart()
        let frame = Packet.udpFrame(Array("after reset".utf8), sourcePort: 4000, destinationPort: 7000)
        try net.transmit(frame)
        #expect(try socket.receiveDatagram(timeout: .seconds(5))?.bytes == Array("after reset".utf8))

        // A receive chain outside memory is found when a frame arrives.
        try net.driver.post(queue: 0, [(end + 0x1000, 2048, true)])
        try socket.send([1, 2, 3], to: TestLink.guestIP, port: 9000)
        #expect(waitUntil { net.driver.transport.brokenReason != nil })
        #expect(net.driver.transport.brokenReason?.contains("receive queue") == true)
    }

    @Test("pages the kernel fills through readv are marked in the region's dirty bitmap")
    func dirtyPages() throws {
        // TestDriver's memory keeps no dirty bitmap, so this test drives the transport itself.
        let namespace = try TestNetNamespace()
        defer { namespace.close() }
        let tap = try Tap(name: namespace.tapName)
        try NetFixture.configureHostEnd(namespace, tap, mtu: 9000)
        let region = try MmapRegion.anonymous(
            at: GuestAddress(0), size: 16 << 20, options: MmapRegion.Options(trackDirtyPages: true))
        let memory = try GuestMemoryMap(regions: [region])
        let loop = try EventLoopThread.start()
        defer { _ = loop.stopAndJoin() }
        let device = try Net(tap: tap, mac: TestLink.guestMAC)
        let transport = try MmioTransport(
            device: device, interrupt: VirtioInterrupt(group: try EventFdInterruptGroup(), index: 0),
            eventLoop: loop.remote, memory: memory)
        defer { transport.write(offset: MmioRegister.status, size: 4, value: 0) }
        var receive = SplitQueueLayout(index: 0, size: 16, base: 0x1000, eventIndex: false)
        let transmit = SplitQueueLayout(index: 1, size: 16, base: 0x1_1000, eventIndex: false)
        try negotiate(transport, [receive, transmit], accept: ~NetFeature.mergeableReceiveBuffers)
        // One 3-page buffer: the header lands on the first page, the frame runs into the second.
        let buffer: UInt64 = 0x20_0000
        _ = try receive.post([(buffer, 3 * 4096, true)], memory: memory)
        transport.write(offset: MmioRegister.queueNotify, size: 4, value: 0)
        region.dirtyBitmap!.clear()
        let socket = try HostSocket(type: SOCK_DGRAM)
        try socket.bind(TestLink.hostIP, 6000)
        try socket.send([UInt8](repeating: 9, count: 6000), to: TestLink.guestIP, port: 9000)
        #expect(waitUntil { (try? receive.usedIndex(memory)) == 1 })
        let used = try receive.takeUsed(memory)
        #expect(used.first?.length == UInt32(Net.headerSize + 14 + 20 + 8 + 6000))
        let bitmap = region.dirtyBitmap!
        #expect(bitmap.isDirty(page: Int(buffer / 4096) + 1), "the second page, written only by readv")
        #expect(!bitmap.isDirty(page: Int(buffer / 4096) + 2), "the third page was not written")
        #expect(device.receivedFrames == 1)
    }

    @Test("deleting the tap interface takes the link down and stops the reads")
    func interfaceDeleted() throws {
        let net = try NetFixture()
        defer { net.close() }
        try net.receive.post(count: 64, size: 2048)
        _ = net.driver.interrupts.take()
        #expect(net.device.isLinkUp)
        try net.namespace.ip("link", "del", net.tap.name)
        #expect(waitUntil { !net.device.isLinkUp })
        #expect(net.configBytes(8)[6] == 0, "status without LINK_UP")
        #expect(net.driver.read(MmioRegister.interruptStatus) & 2 != 0, "configuration change interrupt")
        let error = try #require(net.device.lastTapError)
        #expect(error.description.contains(net.tap.name))
        let wakeups = net.device.receiveWakeups
        usleep(200_000)
        #expect(net.device.receiveWakeups == wakeups)
        // Transmit chains still complete (the frames are dropped), so the guest's ring never stalls.
        try net.transmit(Packet.udpFrame([1], sourcePort: 4000, destinationPort: 7000))
        #expect(try net.driver.waitUsed(queue: 1, count: 1).count == 1)
        #expect(net.device.transmitDrops == 1)
        #expect(net.driver.transport.brokenReason == nil)
    }
}

// MARK: - Fixture

/// Which features a receive test lets the driver accept.
enum ReceiveVariant: Sendable, CustomTestStringConvertible {
    case mergeable, singleChain, noGuestChecksum

    var accepted: UInt64 {
        switch self {
        case .mergeable: .max
        case .singleChain: ~NetFeature.mergeableReceiveBuffers
        case .noGuestChecksum: ~(NetFeature.guestChecksum | NetFeature.guestTSO4 | NetFeature.guestTSO6)
        }
    }

    var testDescription: String {
        switch self {
        case .mergeable: "mergeable buffers"
        case .singleChain: "one chain per frame"
        case .noGuestChecksum: "no GUEST_CSUM"
        }
    }
}

/// Addresses on the test link: the host end of the tap and the guest behind the device.
enum TestLink {
    static let hostMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
    static let guestMAC = MacAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)
    static let hostIP: [UInt8] = [10, 77, 0, 1]
    static let guestIP: [UInt8] = [10, 77, 0, 2]
}

/// A virtio-net device on a real tap in a namespace of its own, driven by ``TestDriver``.
/// The host end is 10.77.0.1 (02:00:00:00:00:01); the guest, 10.77.0.2, has a permanent
/// neighbour entry, so the host never ARPs for it.
final class NetFixture {
    let namespace: TestNetNamespace
    let tap: Tap
    let device: Net
    let driver: TestDriver<Net>
    let receive: ReceiveQueue

    init(
        accept: UInt64 = .max, queueSize: UInt16 = 64, tapMTU: Int? = nil, deviceMTU: UInt16? = nil,
        receiveBudget: Int = 64, transmitBudget: Int = 256
    ) throws {
        let namespace = try TestNetNamespace()
        do {
            let tap = try Tap(name: namespace.tapName)
            try Self.configureHostEnd(namespace, tap, mtu: tapMTU)
            let device = try Net(
                tap: tap, mac: TestLink.guestMAC, mtu: deviceMTU, receiveBudget: receiveBudget,
                transmitBudget: transmitBudget)
            let driver = try TestDriver(device: device)
            try driver.start(accept: accept, queueSize: queueSize)
            self.namespace = namespace
            self.tap = tap
            self.device = device
            self.driver = driver
            receive = ReceiveQueue(driver: driver)
        } catch {
            namespace.close()
            throw error
        }
    }

    /// Gives the tap its host address and MAC, brings it up and adds the guest as a permanent neighbour.
    static func configureHostEnd(_ namespace: TestNetNamespace, _ tap: Tap, mtu: Int?) throws {
        try namespace.ip("link", "set", "dev", tap.name, "address", "02:00:00:00:00:01")
        if let mtu { try namespace.ip("link", "set", "dev", tap.name, "mtu", String(mtu)) }
        try namespace.ip("addr", "add", "10.77.0.1/24", "dev", tap.name)
        try namespace.ip("link", "set", "dev", tap.name, "up")
        try namespace.ip(
            "neigh", "replace", "10.77.0.2", "lladdr", TestLink.guestMAC.description, "dev", tap.name, "nud",
            "permanent")
    }

    /// Resets the device (it stops watching the tap), deletes the interface and the namespace.
    func close() {
        driver.write(MmioRegister.status, 0)
        try? namespace.ip("link", "del", tap.name)
        namespace.close()
    }

    /// Resets the device and negotiates again, with zeroed rings (a driver's rings start
    /// empty; ``TestDriver`` lays them out at the same addresses each time).
    func restart(accept: UInt64 = .max, queueSize: UInt16 = 64) throws {
        driver.write(MmioRegister.status, 0)
        try driver.memory.fill(0, count: 0x2_0000, at: GuestAddress(0x1000))
        try driver.start(accept: accept, queueSize: queueSize)
    }

    /// Configuration space bytes through the transport.
    func configBytes(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(driver.transport.read(offset: MmioRegister.config + UInt64($0), size: 1)) }
    }

    /// Sends `frame` from the guest: the header in one buffer, the frame split over two.
    @discardableResult
    func transmit(_ frame: [UInt8], header: [UInt8] = Packet.virtioHeader()) throws -> UInt16 {
        let half = frame.count / 2
        let headerAddress = try driver.place(header)
        let first = try driver.place(Array(frame[..<half]))
        let second = try driver.place(Array(frame[half...]))
        return try driver.post(
            queue: 1,
            [
                (headerAddress, UInt32(header.count), false), (first, UInt32(half), false),
                (second, UInt32(frame.count - half), false),
            ])
    }
}

/// Negotiates the offered features in `accept` through the MMIO registers and enables `queues`, as
/// ``TestDriver/start(accept:queueSize:)`` does, for tests with memory of their own.
func negotiate(_ transport: MmioTransport<TestMemory>, _ queues: [SplitQueueLayout], accept: UInt64 = .max) throws {
    func write(_ register: UInt64, _ value: UInt32) { transport.write(offset: register, size: 4, value: UInt64(value)) }
    func read(_ register: UInt64) -> UInt32 { UInt32(transport.read(offset: register, size: 4)) }
    write(MmioRegister.status, 0)
    write(MmioRegister.status, DeviceStatus([.acknowledge, .driver]).rawValue)
    for bank: UInt32 in [0, 1] {
        write(MmioRegister.deviceFeaturesSelect, bank)
        write(MmioRegister.driverFeaturesSelect, bank)
        let wanted = UInt32(truncatingIfNeeded: (accept & ~VirtioFeature.ringPacked) >> (32 * UInt64(bank)))
        write(MmioRegister.driverFeatures, read(MmioRegister.deviceFeatures) & wanted)
    }
    write(MmioRegister.status, DeviceStatus([.acknowledge, .driver, .featuresOK]).rawValue)
    for queue in queues {
        write(MmioRegister.queueSelect, UInt32(queue.index))
        write(MmioRegister.queueSize, UInt32(queue.size))
        for (register, address) in [
            (MmioRegister.queueDescriptorLow, queue.descriptors), (MmioRegister.queueDriverLow, queue.available),
            (MmioRegister.queueDeviceLow, queue.used),
        ] {
            write(register, UInt32(truncatingIfNeeded: address))
            write(register + 4, UInt32(truncatingIfNeeded: address >> 32))
        }
        write(MmioRegister.queueReady, 1)
        guard read(MmioRegister.queueReady) == 1 else { throw TestDriverError("queue \(queue.index) not ready") }
    }
    write(MmioRegister.status, DeviceStatus([.acknowledge, .driver, .featuresOK, .driverOK]).rawValue)
    guard transport.status.contains(.driverOK) else { throw TestDriverError("DRIVER_OK refused") }
}

/// Polls `condition` every millisecond for up to `timeout`.
func waitUntil(_ timeout: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline { return false }
        usleep(1000)
    }
    return true
}

// MARK: - Receive side of the test driver

/// A frame as the driver sees it: header and Ethernet frame reassembled from its chains.
struct ReceivedFrame {
    let head: UInt16
    let header: [UInt8]
    let frame: [UInt8]
    let chainLengths: [UInt32]

    private func word(_ offset: Int) -> UInt16 { UInt16(header[offset]) | UInt16(header[offset + 1]) << 8 }
    var flags: UInt8 { header[0] }
    var gsoType: UInt8 { header[1] }
    var gsoSize: UInt16 { word(4) }
    var checksumStart: UInt16 { word(6) }
    var checksumOffset: UInt16 { word(8) }
    var numBuffers: UInt16 { word(10) }
    var destination: [UInt8] { Array(frame.prefix(6)) }
    var source: [UInt8] { Array(frame.dropFirst(6).prefix(6)) }
    var etherType: UInt16 { frame.count >= 14 ? UInt16(frame[12]) << 8 | UInt16(frame[13]) : 0 }

    /// The IPv4 header's addresses, protocol and payload.
    var ipv4: (source: [UInt8], destination: [UInt8], protocol: UInt8, payload: [UInt8])? {
        guard etherType == 0x0800, frame.count >= 34 else { return nil }
        let headerLength = Int(frame[14] & 0x0f) * 4
        let total = Int(frame[16]) << 8 | Int(frame[17])
        guard headerLength >= 20, total >= headerLength, frame.count >= 14 + total else { return nil }
        return (
            Array(frame[26..<30]), Array(frame[30..<34]), frame[23], Array(frame[(14 + headerLength)..<(14 + total)])
        )
    }

    var udp: (sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8], checksumVerifies: Bool)? {
        guard let ip = ipv4, ip.protocol == 17, ip.payload.count >= 8 else { return nil }
        let segment = ip.payload
        let pseudo = ip.source + ip.destination + [0, 17] + Packet.bigEndian(UInt16(segment.count))
        return (
            Packet.readBigEndian16(segment, 0), Packet.readBigEndian16(segment, 2), Array(segment[8...]),
            Packet.fold(Packet.sum(pseudo + segment)) == 0xffff
        )
    }

    var tcp: (sourcePort: UInt16, sequence: UInt32, isSyn: Bool, payload: [UInt8])? {
        guard let ip = ipv4, ip.protocol == 6, ip.payload.count >= 20 else { return nil }
        let segment = ip.payload
        let dataOffset = Int(segment[12] >> 4) * 4
        guard dataOffset >= 20, segment.count >= dataOffset else { return nil }
        let sequence = UInt32(Packet.readBigEndian16(segment, 4)) << 16 | UInt32(Packet.readBigEndian16(segment, 6))
        return (
            Packet.readBigEndian16(segment, 0), sequence, segment[13] & Packet.syn != 0, Array(segment[dataOffset...])
        )
    }
}

/// Posts receive chains on queue 0 and turns the used ones back into frames (following
/// `num_buffers` when buffers are mergeable).
final class ReceiveQueue {
    let driver: TestDriver<Net>
    /// Re-post each chain once its frame was read, keeping the ring full.
    var recycle = false
    private var chains: [UInt16: [(address: UInt64, length: UInt32, writable: Bool)]] = [:]
    private var pending: [(id: UInt32, length: UInt32)] = []
    /// Chains the device returned with nothing written, in order.
    private(set) var emptyReturns: [UInt32] = []

    init(driver: TestDriver<Net>) { self.driver = driver }

    private var mergeable: Bool { driver.transport.driverFeatures & NetFeature.mergeableReceiveBuffers != 0 }

    /// Posts `count` one-buffer chains of `size` bytes filled with 0xa5, with one notification.
    func post(count: Int, size: UInt32) throws {
        for _ in 0..<count { try post(chain: [(size, true)], notify: false) }
        driver.write(MmioRegister.queueNotify, 0)
    }

    /// Posts one chain of buffers (length, writable) filled with 0xa5; returns its head.
    @discardableResult
    func post(chain buffers: [(UInt32, Bool)], notify: Bool = true) throws -> UInt16 {
        var placed: [(address: UInt64, length: UInt32, writable: Bool)] = []
        for (length, writable) in buffers {
            let address = driver.allocate(Int(length))
            try driver.memory.fill(0xa5, count: UInt64(length), at: GuestAddress(address))
            placed.append((address, length, writable))
        }
        return try post(placed, notify: notify)
    }

    private func post(_ buffers: [(address: UInt64, length: UInt32, writable: Bool)], notify: Bool) throws -> UInt16 {
        let head = try driver.post(queue: 0, buffers.map { ($0.address, $0.length, $0.writable) }, notify: notify)
        chains[head] = buffers
        return head
    }

    /// Waits for `count` frames.
    func frames(_ count: Int, timeout: Duration = .seconds(10)) throws -> [ReceivedFrame] {
        try frames(timeout: timeout) { $0.count >= count }
    }

    /// Collects frames until `done` says so.
    func frames(timeout: Duration = .seconds(10), until done: ([ReceivedFrame]) -> Bool) throws -> [ReceivedFrame] {
        let deadline = ContinuousClock.now + timeout
        var result: [ReceivedFrame] = []
        while !done(result) {
            pending += try driver.queues[0].takeUsed(driver.memory)
            var progressed = false
            while let frame = try takeFrame() {
                result.append(frame)
                progressed = true
            }
            if progressed { continue }
            if let reason = driver.transport.brokenReason { throw TestDriverError("device broken: \(reason)") }
            if ContinuousClock.now > deadline { throw TestDriverError("\(result.count) frames in time") }
            usleep(1000)
        }
        return result
    }

    private func read(_ entry: (id: UInt32, length: UInt32)) throws -> [UInt8] {
        guard let buffers = chains[UInt16(truncatingIfNeeded: entry.id)] else {
            throw TestDriverError("used id \(entry.id) was never posted")
        }
        var bytes: [UInt8] = []
        var left = Int(entry.length)
        for buffer in buffers where buffer.writable && left > 0 {
            let count = min(left, Int(buffer.length))
            bytes += try driver.memory.read(count: count, from: GuestAddress(buffer.address))
            left -= count
        }
        guard left == 0 else { throw TestDriverError("used length \(entry.length) exceeds chain \(entry.id)") }
        return bytes
    }

    private func takeFrame() throws -> ReceivedFrame? {
        while let first = pending.first, first.length == 0 {
            emptyReturns.append(first.id)
            pending.removeFirst()
        }
        guard let first = pending.first else { return nil }
        let start = try read(first)
        guard start.count >= 12 else { throw TestDriverError("frame shorter than a header: \(start.count)") }
        let count = mergeable ? Int(UInt16(start[10]) | UInt16(start[11]) << 8) : 1
        guard count >= 1 else { throw TestDriverError("num_buffers 0") }
        guard pending.count >= count else { return nil }
        var bytes = start
        for entry in pending[1..<count] { bytes += try read(entry) }
        let entries = Array(pending[0..<count])
        pending.removeFirst(count)
        if recycle {
            for entry in entries {
                if let buffers = chains[UInt16(truncatingIfNeeded: entry.id)] { _ = try post(buffers, notify: true) }
            }
        }
        return ReceivedFrame(
            head: UInt16(truncatingIfNeeded: first.id), header: Array(bytes[0..<12]), frame: Array(bytes[12...]),
            chainLengths: entries.map(\.length))
    }
}

// MARK: - Packets

/// Builders for the frames the tests send as the guest.
enum Packet {
    static let syn: UInt8 = 0x02
    static let push: UInt8 = 0x08
    static let ack: UInt8 = 0x10

    static func bigEndian(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        bigEndian(UInt16(value >> 16)) + bigEndian(UInt16(value & 0xffff))
    }
    static func readBigEndian16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    /// The one's-complement sum of big-endian 16-bit words (odd length padded).
    static func sum(_ bytes: [UInt8]) -> UInt32 {
        var total: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            total += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { total += UInt32(bytes[index]) << 8 }
        return total
    }

    static func fold(_ sum: UInt32) -> UInt16 {
        var value = sum
        while value >> 16 != 0 { value = (value & 0xffff) + (value >> 16) }
        return UInt16(value)
    }

    /// A `virtio_net_hdr_v1`.
    static func virtioHeader(
        flags: UInt8 = 0, gsoType: UInt8 = 0, headerLength: UInt16 = 0, gsoSize: UInt16 = 0,
        checksumStart: UInt16 = 0, checksumOffset: UInt16 = 0, numBuffers: UInt16 = 0
    ) -> [UInt8] {
        func little(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8)] }
        return [flags, gsoType] + little(headerLength) + little(gsoSize) + little(checksumStart)
            + little(checksumOffset) + little(numBuffers)
    }

    static func ethernet(_ payload: [UInt8], type: UInt16 = 0x0800) -> [UInt8] {
        TestLink.hostMAC + TestLink.guestMAC.bytes + bigEndian(type) + payload
    }

    static func ipv4(_ payload: [UInt8], protocol number: UInt8) -> [UInt8] {
        var header: [UInt8] =
            [0x45, 0] + bigEndian(UInt16(20 + payload.count)) + [0, 1, 0x40, 0, 64, number, 0, 0]
            + TestLink.guestIP + TestLink.hostIP
        let checksum = ~fold(sum(header))
        header[10] = UInt8(checksum >> 8)
        header[11] = UInt8(checksum & 0xff)
        return header + payload
    }

    /// Ethernet + IPv4 + UDP from the guest to the host (UDP checksum 0: none).
    static func udpFrame(_ payload: [UInt8], sourcePort: UInt16, destinationPort: UInt16) -> [UInt8] {
        let udp = bigEndian(sourcePort) + bigEndian(destinationPort) + bigEndian(UInt16(8 + payload.count)) + [0, 0]
        return ethernet(ipv4(udp + payload, protocol: 17))
    }

    /// Ethernet + IPv4 + TCP from the guest to the host. With `partialChecksum` the checksum
    /// field holds the pseudo-header sum, for a `NEEDS_CSUM` frame the tap completes.
    static func tcpFrame(
        sourcePort: UInt16, destinationPort: UInt16, sequence: UInt32, acknowledgment: UInt32, flags: UInt8,
        options: [UInt8] = [], payload: [UInt8] = [], partialChecksum: Bool = false
    ) -> [UInt8] {
        var segment =
            bigEndian(sourcePort) + bigEndian(destinationPort) + bigEndian(sequence) + bigEndian(acknowledgment)
            + [UInt8((20 + options.count) / 4) << 4, flags] + bigEndian(UInt16(65535)) + [0, 0, 0, 0] + options
            + payload
        let pseudo = TestLink.guestIP + TestLink.hostIP + [0, 6] + bigEndian(UInt16(segment.count))
        let checksum = partialChecksum ? fold(sum(pseudo)) : ~fold(sum(pseudo + segment))
        segment[16] = UInt8(checksum >> 8)
        segment[17] = UInt8(checksum & 0xff)
        return ethernet(ipv4(segment, protocol: 6))
    }
}

// MARK: - Host sockets

/// A non-blocking IPv4 socket in the calling thread's namespace.
final class HostSocket {
    let descriptor: Int32

    init(type: __socket_type) throws {
        descriptor = socket(
            AF_INET, Int32(type.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw TestDriverError("socket: \(Errno.current)") }
    }

    deinit { close(descriptor) }

    private static func address(_ ip: [UInt8], _ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        // SAFETY: `ip` has the four bytes of an in_addr.
        withUnsafeMutableBytes(of: &address.sin_addr) { $0.copyBytes(from: ip.prefix(4)) }
        return address
    }

    private func withAddress(
        _ ip: [UInt8], _ port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32
    )
        -> Int32
    {
        var address = Self.address(ip, port)
        // SAFETY: sockaddr_in begins with the sockaddr fields; the kernel reads `socklen_t` bytes of it.
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    func bind(_ ip: [UInt8], _ port: UInt16) throws {
        let result = withAddress(ip, port) { Glibc.bind(descriptor, $0, $1) }
        guard result == 0 else { throw TestDriverError("bind: \(Errno.current)") }
    }

    /// Starts a TCP connection (completes in the background).
    func connect(_ ip: [UInt8], _ port: UInt16) throws {
        let result = withAddress(ip, port) { Glibc.connect(descriptor, $0, $1) }
        guard result == 0 || Errno.current == Errno(rawValue: EINPROGRESS) else {
            throw TestDriverError("connect: \(Errno.current)")
        }
    }

    func send(_ bytes: [UInt8], to ip: [UInt8], port: UInt16) throws {
        let result = withAddress(ip, port) { address, length in
            // SAFETY: sendto reads `count` bytes of the array, which the closure keeps alive.
            Int32(bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, 0, address, length) })
        }
        guard result == bytes.count else { throw TestDriverError("sendto: \(Errno.current)") }
    }

    /// Sends on a connected socket; returns how much the kernel took.
    func send(_ bytes: [UInt8]) throws -> Int {
        // SAFETY: send reads `count` bytes of the array, which the closure keeps alive.
        let result = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
        guard result >= 0 else { throw TestDriverError("send: \(Errno.current)") }
        return result
    }

    func wait(for events: Int16, timeout: Duration) -> Bool {
        var entry = pollfd(fd: descriptor, events: events, revents: 0)
        let milliseconds = Int32(clamping: timeout.wholeMillisecondsRoundedUp)
        return poll(&entry, 1, milliseconds) == 1 && entry.revents & events != 0
    }

    /// `SO_ERROR`: 0 once a connection succeeded.
    var pendingError: Int32 {
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }

    /// The next datagram, or nil after `timeout`.
    func receiveDatagram(timeout: Duration) throws -> (bytes: [UInt8], sourceIP: [UInt8], sourcePort: UInt16)? {
        guard wait(for: Int16(POLLIN), timeout: timeout) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        // SAFETY: recvfrom writes at most `buffer.count` bytes into the buffer and `length`
        // bytes of address into `address`, a sockaddr_in whose first fields are sockaddr's.
        let count = buffer.withUnsafeMutableBytes { raw in
            // SAFETY: as above; the pointers live for the call only.
            withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(descriptor, raw.baseAddress, raw.count, 0, $0, &length)
                }
            }
        }
        guard count >= 0 else { throw TestDriverError("recvfrom: \(Errno.current)") }
        // SAFETY: copies the four bytes of the in_addr.
        let ip = withUnsafeBytes(of: address.sin_addr) { Array($0) }
        return (Array(buffer[0..<count]), ip, UInt16(bigEndian: address.sin_port))
    }

    /// Reads `count` bytes from a connected socket (fewer if `timeout` passes first).
    func receive(count: Int, timeout: Duration) throws -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count < count && ContinuousClock.now < deadline {
            guard wait(for: Int16(POLLIN), timeout: .milliseconds(100)) else { continue }
            // SAFETY: recv writes at most `count` bytes into the array.
            let received = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if received <= 0 { break }
            bytes += buffer[0..<received]
        }
        return bytes
    }
}
