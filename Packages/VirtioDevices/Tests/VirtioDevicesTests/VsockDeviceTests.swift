// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Dispatch
import Glibc
import Synchronization
import Testing
import VMMSysUtil
import VMMemory
import VirtioDevices
import VirtioQueue

private let guestCID: UInt64 = 3
private let hostCID: UInt64 = 2
private let firstLocalPort: UInt32 = 1 << 30

/// virtio-vsock operations as plain numbers (the tests do not use the device's own types).
private enum Op {
    static let request: UInt16 = 1
    static let response: UInt16 = 2
    static let reset: UInt16 = 3
    static let shutdown: UInt16 = 4
    static let readWrite: UInt16 = 5
    static let creditUpdate: UInt16 = 6
    static let creditRequest: UInt16 = 7
}

/// A packet as the test guest writes and reads it, encoded field by field by hand.
private struct VsockPacket: Equatable, CustomStringConvertible {
    var srcCID: UInt64 = guestCID
    var dstCID: UInt64 = hostCID
    var srcPort: UInt32
    var dstPort: UInt32
    /// nil: the payload's size.
    var length: UInt32? = nil
    var type: UInt16 = 1
    var op: UInt16
    var flags: UInt32 = 0
    var bufAlloc: UInt32 = 64 * 1024
    var fwdCnt: UInt32 = 0
    var payload: [UInt8] = []

    var bytes: [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) {
            for shift in stride(from: 0, to: T.bitWidth, by: 8) {
                out.append(UInt8(truncatingIfNeeded: value >> shift))
            }
        }
        put(srcCID)
        put(dstCID)
        put(srcPort)
        put(dstPort)
        put(length ?? UInt32(payload.count))
        put(type)
        put(op)
        put(flags)
        put(bufAlloc)
        put(fwdCnt)
        return out + payload
    }

    var description: String {
        "op \(op) \(srcCID):\(srcPort) -> \(dstCID):\(dstPort) len \(length ?? 0) flags \(flags) "
            + "buf \(bufAlloc) fwd \(fwdCnt)"
    }
}

extension VsockPacket {
    /// Parses a used receive buffer; nil when it is shorter than a header.
    init?(received bytes: [UInt8]) {
        guard bytes.count >= 44 else { return nil }
        func field<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            (0..<(T.bitWidth / 8)).reduce(T(0)) { $0 | T(bytes[offset + $1]) << (8 * $1) }
        }
        srcCID = field(0, UInt64.self)
        dstCID = field(8, UInt64.self)
        srcPort = field(16, UInt32.self)
        dstPort = field(20, UInt32.self)
        length = field(24, UInt32.self)
        type = field(28, UInt16.self)
        op = field(30, UInt16.self)
        flags = field(32, UInt32.self)
        bufAlloc = field(36, UInt32.self)
        fwdCnt = field(40, UInt32.self)
        payload = Array(bytes[44...])
    }
}

/// The guest side: a ``TestDriver`` that keeps receive buffers posted and sends hand-built packets.
private final class Guest {
    let device: VsockDevice<TestMemory>
    let driver: TestDriver<VsockDevice<TestMemory>>
    private var receiveBuffers: [UInt16: UInt64] = [:]
    private var receivedCount = 0
    private var sentCount = 0
    /// Used buffers already taken from the ring but not yet looked at by the test.
    private var backlog: [(length: UInt32, bytes: [UInt8])] = []
    static let bufferSize = 44 + 4096

    init(_ device: VsockDevice<TestMemory>, receiveBuffers: Int = 16) throws {
        self.device = device
        driver = try TestDriver(device: device)
        try driver.start()
        try postReceiveBuffers(receiveBuffers)
    }

    var outstanding: Int { receiveBuffers.count }

    func postReceiveBuffers(_ count: Int, size: Int = Guest.bufferSize, writable: Bool = true) throws {
        // The test driver reuses descriptor slots in order; stay well inside the ring.
        precondition(receiveBuffers.count + count < 60, "too many receive buffers outstanding")
        for _ in 0..<count {
            let address = driver.allocate(size)
            let head = try driver.post(queue: 0, [(address, UInt32(size), writable)], notify: false)
            receiveBuffers[head] = address
        }
        driver.write(MmioRegister.queueNotify, 0)
    }

    func send(_ packet: VsockPacket) throws {
        try sendBuffers([(try driver.place(packet.bytes), UInt32(packet.bytes.count), false)])
    }

    func sendBuffers(_ buffers: [(UInt64, UInt32, Bool)]) throws {
        try driver.post(queue: 1, buffers)
        sentCount += 1
        _ = try driver.waitUsed(queue: 1, count: sentCount)
    }

    /// The next `count` used receive buffers as (used length, bytes), in ring order.
    func receiveRaw(_ count: Int) throws -> [(length: UInt32, bytes: [UInt8])] {
        if backlog.count < count {
            let used = try driver.waitUsed(queue: 0, count: receivedCount + count - backlog.count)
            receivedCount += used.count
            for element in used {
                let posted = receiveBuffers.removeValue(forKey: UInt16(element.id))
                let address = try #require(posted, "used id \(element.id) was not posted")
                let bytes = try driver.memory.read(count: Int(element.length), from: GuestAddress(address))
                backlog.append((element.length, bytes))
            }
        }
        let taken = Array(backlog.prefix(count))
        backlog.removeFirst(taken.count)
        return taken
    }

    func receive(_ count: Int = 1) throws -> [VsockPacket] {
        try receiveRaw(count).map {
            try #require(VsockPacket(received: $0.bytes), "a used buffer of \($0.length) bytes")
        }
    }

    func receiveOne() throws -> VsockPacket {
        let packets = try receive(1)
        try #require(packets.count == 1, "expected one packet, got \(packets)")
        return packets[0]
    }

    /// Whether the device used no receive buffer for `milliseconds`.
    func staysQuiet(milliseconds: UInt32 = 200) throws -> Bool {
        usleep(milliseconds * 1000)
        return try backlog.isEmpty
            && driver.queues[0].usedIndex(driver.memory) == UInt16(truncatingIfNeeded: receivedCount)
    }

    /// Guest-side packet for a connection from `guestPort` to host `hostPort`.
    func packet(
        _ op: UInt16, guestPort: UInt32, hostPort: UInt32, payload: [UInt8] = [], flags: UInt32 = 0,
        bufAlloc: UInt32 = 64 * 1024, fwdCnt: UInt32 = 0
    ) -> VsockPacket {
        VsockPacket(
            srcPort: guestPort, dstPort: hostPort, op: op, flags: flags, bufAlloc: bufAlloc, fwdCnt: fwdCnt,
            payload: payload)
    }
}

// MARK: Unix sockets on the host side of the tests

private func unixAddress(_ path: String) -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    // SAFETY: test paths are short (checked), the copy stays inside sun_path.
    withUnsafeMutableBytes(of: &address.sun_path) { field in
        precondition(path.utf8.count < field.count)
        field.copyBytes(from: Array(path.utf8))
    }
    return address
}

private func setTimeouts(_ fd: Int32, seconds: Int = 5) {
    var timeout = timeval(tv_sec: seconds, tv_usec: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
}

/// A blocking client connected to `path` (reads time out after 5 s).
private func connectClient(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    try #require(fd >= 0)
    var address = unixAddress(path)
    let result = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
    guard result == 0 else {
        close(fd)
        throw TestDriverError("connect(\(path)): errno \(errno)")
    }
    setTimeouts(fd)
    return fd
}

/// A blocking listener at `path`.
private func makeListener(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    try #require(fd >= 0)
    var address = unixAddress(path)
    let bound = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
    try #require(bound == 0 && listen(fd, 16) == 0)
    return fd
}

private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let count = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if count <= 0 { return }
        offset += count
    }
}

/// Reads until `count` bytes arrived, end of stream, or the 5 s timeout.
private func readExactly(_ fd: Int32, _ count: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while bytes.count < count {
        let got = recv(fd, &buffer, min(buffer.count, count - bytes.count), 0)
        if got <= 0 { break }
        bytes += buffer[..<got]
    }
    return bytes
}

private func readLine(_ fd: Int32) -> String {
    var line: [UInt8] = []
    var byte: UInt8 = 0
    while line.count < 64, recv(fd, &byte, 1, 0) == 1 {
        line.append(byte)
        if byte == UInt8(ascii: "\n") { break }
    }
    return String(decoding: line, as: UTF8.self)
}

/// True when the peer closed within the read timeout: end of stream, or
/// `ECONNRESET` (a Unix socket closed with unread bytes reports that), never a timeout.
private func seesEndOfStream(_ fd: Int32) -> Bool {
    var byte: UInt8 = 0
    while true {
        let count = recv(fd, &byte, 1, 0)
        if count == 0 { return true }
        if count < 0 { return errno == ECONNRESET }
    }
}

/// An echo server on a thread: accepts one client, echoes until end of stream.
private final class EchoServer: Sendable {
    let listener: Int32
    let finished = DispatchSemaphore(value: 0)
    let echoed = Atomic<Int>(0)

    init(path: String) throws {
        listener = try makeListener(path)
        let listener = self.listener
        DispatchQueue.global().async { [self] in
            let client = accept(listener, nil, nil)
            if client >= 0 {
                setTimeouts(client, seconds: 10)
                var buffer = [UInt8](repeating: 0, count: 8192)
                while true {
                    let count = recv(client, &buffer, buffer.count, 0)
                    if count <= 0 { break }
                    writeAll(client, Array(buffer[..<count]))
                    echoed.add(count, ordering: .relaxed)
                }
                close(client)
            }
            finished.signal()
        }
    }

    deinit { close(listener) }
}

/// A server that accepts one client and reads everything it sends.
private final class SinkServer: Sendable {
    let listener: Int32
    let received = Mutex<[UInt8]>([])
    let finished = DispatchSemaphore(value: 0)

    init(path: String) throws {
        listener = try makeListener(path)
        let listener = self.listener
        DispatchQueue.global().async { [self] in
            let client = accept(listener, nil, nil)
            if client >= 0 {
                setTimeouts(client, seconds: 10)
                var buffer = [UInt8](repeating: 0, count: 8192)
                while true {
                    let count = recv(client, &buffer, buffer.count, 0)
                    if count <= 0 { break }
                    received.withLock { $0 += buffer[..<count] }
                }
                close(client)
            }
            finished.signal()
        }
    }

    deinit { close(listener) }
}

private func makeDevice(
    in directory: borrowing TemporaryDirectory, _ adjust: (inout VsockConfiguration) -> Void = { _ in }
) throws -> VsockDevice<TestMemory> {
    var configuration = VsockConfiguration(guestCID: guestCID, socketPath: directory.path + "/v.sock")
    adjust(&configuration)
    return try VsockDevice<TestMemory>(configuration: configuration)
}

private func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

@Suite("virtio-vsock")
struct VsockDeviceTests {
    @Test("reports its type, CID and features; validates its configuration; owns its socket path")
    func configuration() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let path = directory.path + "/v.sock"
        var device: VsockDevice<TestMemory>? = try makeDevice(in: directory)
        #expect(exists(path))
        do {
            let driver = try TestDriver(device: device!)
            #expect(driver.read(MmioRegister.deviceID) == 19)
            #expect(driver.transport.read(offset: MmioRegister.config, size: 8) == guestCID)
            #expect(driver.transport.read(offset: MmioRegister.config + 4, size: 4) == 0)
            #expect(driver.deviceFeatures & 1 == 1)  // VIRTIO_VSOCK_F_STREAM
            try driver.start()
            #expect(driver.read(MmioRegister.status) & DeviceStatus.driverOK.rawValue != 0)
        }
        // The path is taken while the device lives.
        #expect(throws: VsockError.self) { try makeDevice(in: directory) }
        for cid: UInt64 in [0, 1, 2, 0xffff_ffff, 1 << 32] {
            #expect(throws: VsockError.invalidGuestCID(cid)) {
                try VsockDevice<TestMemory>(configuration: VsockConfiguration(guestCID: cid, socketPath: path + "x"))
            }
        }
        let long = directory.path + "/" + String(repeating: "a", count: 100)
        #expect(throws: VsockError.invalidSocketPath(long)) {
            try VsockDevice<TestMemory>(configuration: VsockConfiguration(guestCID: 3, socketPath: long))
        }
        #expect(throws: VsockError.self) {
            var configuration = VsockConfiguration(guestCID: 3, socketPath: path + "y")
            configuration.bufferSize = 10
            return try VsockDevice<TestMemory>(configuration: configuration)
        }
        #expect(!exists(path + "x") && !exists(path + "y"))
        // Released (the driver and its transport went above): the path is unlinked.
        device = nil
        _ = device
        try waitUntil { !exists(path) }
    }

    @Test("guest connects to a host listener, data is echoed, full shutdown ends in RST")
    func guestConnectEcho() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory)
        let server = try EchoServer(path: directory.path + "/v.sock_1234")
        let guest = try Guest(device)

        try guest.send(guest.packet(Op.request, guestPort: 40000, hostPort: 1234))
        let response = try guest.receiveOne()
        #expect(response.op == Op.response)
        #expect(response.srcCID == hostCID && response.dstCID == guestCID)
        #expect(response.srcPort == 1234 && response.dstPort == 40000)
        #expect(response.type == 1)
        #expect(response.bufAlloc == device.configuration.bufferSize)
        #expect(device.statistics.activeConnections == 1)

        let message = Array("hello through vsock".utf8)
        try guest.send(guest.packet(Op.readWrite, guestPort: 40000, hostPort: 1234, payload: message))
        var echoed: [UInt8] = []
        while echoed.count < message.count {
            let packet = try guest.receiveOne()
            #expect(packet.op == Op.readWrite)
            #expect(packet.length == UInt32(packet.payload.count))
            #expect(packet.fwdCnt == UInt32(message.count))  // all guest bytes reached the server
            echoed += packet.payload
        }
        #expect(echoed == message)

        try guest.send(guest.packet(Op.shutdown, guestPort: 40000, hostPort: 1234, flags: 3))
        let reset = try guest.receiveOne()
        #expect(reset.op == Op.reset)
        #expect(reset.srcPort == 1234 && reset.dstPort == 40000)
        #expect(server.finished.wait(timeout: .now() + 5) == .success)
        #expect(server.echoed.load(ordering: .relaxed) == message.count)
        let statistics = device.statistics
        #expect(statistics.guestConnections == 1)
        #expect(statistics.activeConnections == 0)
    }

    @Test("a guest connect to a port nobody listens on gets RST")
    func guestConnectRefused() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory)
        let guest = try Guest(device)
        try guest.send(guest.packet(Op.request, guestPort: 1025, hostPort: 9))
        let reset = try guest.receiveOne()
        #expect(reset.op == Op.reset)
        #expect(reset.srcCID == hostCID && reset.srcPort == 9 && reset.dstPort == 1025)
        #expect(device.statistics.refusedConnections == 1)
        #expect(device.statistics.activeConnections == 0)
        // The queues the device holds went on with the packets (a vhost-user daemon's GET_VRING_BASE).
        try waitUntil { device.activeQueues?[1].nextAvailable == 1 && device.activeQueues?[0].nextAvailable == 1 }
        #expect(device.activeQueues?.count == 3)
        device.reset()
        #expect(device.activeQueues == nil)
    }

    @Test("host connects with CONNECT <port>, gets OK <local port>, bytes flow both ways, guest RST closes it")
    func hostConnect() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory)
        let guest = try Guest(device)
        let client = try connectClient(directory.path + "/v.sock")
        defer { close(client) }
        // Bytes right behind the command line are the connection's first data, not part of it.
        writeAll(client, Array("CONNECT 52\nearly".utf8))

        let request = try guest.receiveOne()
        #expect(request.op == Op.request)
        #expect(request.srcCID == hostCID && request.dstCID == guestCID)
        #expect(request.dstPort == 52)
        #expect(request.srcPort == firstLocalPort)
        let localPort = request.srcPort
        #expect(try guest.staysQuiet())  // nothing flows before the guest accepts
        try guest.send(guest.packet(Op.response, guestPort: 52, hostPort: localPort))
        #expect(readLine(client) == "OK \(localPort)\n")

        writeAll(client, Array("ping".utf8))
        var payload: [UInt8] = []
        while payload.count < 9 {
            let data = try guest.receiveOne()
            #expect(data.op == Op.readWrite)
            #expect(data.srcPort == localPort && data.dstPort == 52)
            payload += data.payload
        }
        #expect(payload == Array("earlyping".utf8))

        try guest.send(guest.packet(Op.readWrite, guestPort: 52, hostPort: localPort, payload: Array("pong".utf8)))
        #expect(readExactly(client, 4) == Array("pong".utf8))

        try guest.send(guest.packet(Op.reset, guestPort: 52, hostPort: localPort))
        #expect(seesEndOfStream(client))
        #expect(try guest.staysQuiet())  // no answer to an RST
        #expect(device.statistics.hostConnections == 1)
        #expect(device.statistics.activeConnections == 0)
    }

    @Test("a host client closing sends SHUTDOWN; the guest's shutdown then gets RST; second client gets the next port")
    func hostCloses() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory)
        let guest = try Guest(device)
        let client = try connectClient(directory.path + "/v.sock")
        writeAll(client, Array("CONNECT 7000\n".utf8))
        let request = try guest.receiveOne()
        try guest.send(guest.packet(Op.response, guestPort: 7000, hostPort: request.srcPort))
        #expect(readLine(client) == "OK \(request.srcPort)\n")
        writeAll(client, Array("last words".utf8))
        close(client)
        var payload: [UInt8] = []
        var shutdown: VsockPacket?
        while shutdown == nil {
            let packet = try guest.receiveOne()
            if packet.op == Op.readWrite { payload += packet.payload } else { shutdown = packet }
        }
        #expect(payload == Array("last words".utf8))
        #expect(shutdown?.op == Op.shutdown)
        #expect(shutdown?.flags == 2)  // VIRTIO_VSOCK_SHUTDOWN_SEND
        try guest.send(guest.packet(Op.shutdown, guestPort: 7000, hostPort: request.srcPort, flags: 3))
        #expect(try guest.receiveOne().op == Op.reset)
        #expect(device.statistics.activeConnections == 0)

        let second = try connectClient(directory.path + "/v.sock")
        defer { close(second) }
        writeAll(second, Array("CONNECT 7000\n".utf8))
        #expect(try guest.receiveOne().srcPort == firstLocalPort + 1)
    }

    @Test("malformed CONNECT lines close the client without reaching the guest")
    func malformedConnect() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory)
        let guest = try Guest(device)
        let lines = [
            "CONNECT\n", "CONNECT \n", "CONNECT abc\n", "connect 52\n", "CONNECT 52 \n", "CONNECT -1\n",
            "CONNECT 4294967296\n", "CONNECT 00000000052\n", "CONNECT 5\r\n", String(repeating: "C", count: 40),
            "\n",
        ]
        for line in lines {
            let client = try connectClient(directory.path + "/v.sock")
            writeAll(client, Array(line.utf8))
            #expect(seesEndOfStream(client), "\(line.debugDescription) was not refused")
            close(client)
        }
        #expect(try guest.staysQuiet())
        #expect(device.statistics.rejectedClients == UInt64(lines.count))
        #expect(device.statistics.hostConnections == 0)
    }

    @Test("a client that never sends CONNECT and a guest that never answers both time out")
    func timeouts() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory) { configuration in
            configuration.connectCommandTimeout = .milliseconds(200)
            configuration.responseTimeout = .milliseconds(200)
        }
        let guest = try Guest(device)
        let silent = try connectClient(directory.path + "/v.sock")
        defer { close(silent) }
        writeAll(silent, Array("CONN".utf8))
        let started = ContinuousClock.now
        #expect(seesEndOfStream(silent))
        #expect(ContinuousClock.now - started < .seconds(3))

        let client = try connectClient(directory.path + "/v.sock")
        defer { close(client) }
        writeAll(client, Array("CONNECT 80\n".utf8))
        let request = try guest.receiveOne()
        #expect(request.op == Op.request)
        // The guest never answers: RST to the guest, end of stream to the client.
        let reset = try guest.receiveOne()
        #expect(reset.op == Op.reset && reset.srcPort == request.srcPort && reset.dstPort == 80)
        #expect(seesEndOfStream(client))
        #expect(device.statistics.timeouts == 2)
        #expect(device.statistics.rejectedClients == 1)
    }

    @Test("host-to-guest data stops when the guest's credit is used up and resumes after CREDIT_UPDATE")
    func creditFlowControl() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory)
        let guest = try Guest(device)
        let client = try connectClient(directory.path + "/v.sock")
        defer { close(client) }
        writeAll(client, Array("CONNECT 52\n".utf8))
        let port = try guest.receiveOne().srcPort
        // The guest has room for 100 bytes.
        try guest.send(guest.packet(Op.response, guestPort: 52, hostPort: port, bufAlloc: 100, fwdCnt: 0))
        #expect(readLine(client) == "OK \(port)\n")
        let data = (0..<250).map { UInt8(truncatingIfNeeded: $0 * 7) }
        writeAll(client, data)

        func collect(_ count: Int) throws -> (payload: [UInt8], creditRequests: Int) {
            var payload: [UInt8] = []
            var requests = 0
            while payload.count < count {
                let packet = try guest.receiveOne()
                if packet.op == Op.creditRequest {
                    requests += 1
                    continue
                }
                #expect(packet.op == Op.readWrite)
                payload += packet.payload
            }
            return (payload, requests)
        }
        var (received, requests) = try collect(100)
        #expect(received == Array(data[..<100]))
        if requests == 0 {
            // Out of credit with bytes waiting, the device asks once.
            #expect(try guest.receiveOne().op == Op.creditRequest)
            requests = 1
        }
        #expect(requests == 1)
        #expect(try guest.staysQuiet(milliseconds: 300))

        // The guest consumed 100 bytes.
        try guest.postReceiveBuffers(8)
        try guest.send(guest.packet(Op.creditUpdate, guestPort: 52, hostPort: port, bufAlloc: 100, fwdCnt: 100))
        let second = try collect(100)
        received += second.payload
        #expect(received == Array(data[..<200]))
        try guest.send(guest.packet(Op.creditUpdate, guestPort: 52, hostPort: port, bufAlloc: 100, fwdCnt: 200))
        let third = try collect(50)
        received += third.payload
        #expect(received == data)
        #expect(try guest.staysQuiet())
    }

    @Test("guest-to-host credit: updates after forwarding, answers CREDIT_REQUEST, resets on overrun")
    func guestCredit() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory) { $0.bufferSize = 4096 }
        let server = try SinkServer(path: directory.path + "/v.sock_99")
        let guest = try Guest(device)
        try guest.send(guest.packet(Op.request, guestPort: 2000, hostPort: 99))
        let response = try guest.receiveOne()
        #expect(response.op == Op.response && response.bufAlloc == 4096 && response.fwdCnt == 0)

        // A quarter of the buffer forwarded: the device tells the guest.
        let chunk = [UInt8](repeating: 0x5a, count: 1500)
        try guest.send(guest.packet(Op.readWrite, guestPort: 2000, hostPort: 99, payload: chunk))
        let update = try guest.receiveOne()
        #expect(update.op == Op.creditUpdate)
        #expect(update.fwdCnt == 1500 && update.bufAlloc == 4096)

        try guest.send(guest.packet(Op.creditRequest, guestPort: 2000, hostPort: 99))
        let answer = try guest.receiveOne()
        #expect(answer.op == Op.creditUpdate && answer.fwdCnt == 1500)

        // 8 KiB at once is more than the 4 KiB the device offered.
        let overrun = [UInt8](repeating: 1, count: 8192)
        try guest.send(guest.packet(Op.readWrite, guestPort: 2000, hostPort: 99, payload: overrun))
        #expect(try guest.receiveOne().op == Op.reset)
        #expect(device.statistics.creditViolations == 1)
        #expect(server.finished.wait(timeout: .now() + 5) == .success)
        #expect(server.received.withLock { $0 } == chunk)
    }

    @Test("hostile packets: spoofed CIDs, unknown ops and types, bad lengths, no connection, short headers")
    func hostilePackets() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory) { $0.maximumConnections = 2 }
        let guest = try Guest(device)

        // A source CID that is not the guest's: dropped silently.
        var spoofed = guest.packet(Op.request, guestPort: 1, hostPort: 2)
        spoofed.srcCID = 7
        try guest.send(spoofed)
        spoofed.srcCID = hostCID
        try guest.send(spoofed)
        // Shorter than a header, and a chain with no readable bytes at all.
        try guest.sendBuffers([(try guest.driver.place([UInt8](repeating: 0, count: 20)), 20, false)])
        try guest.sendBuffers([(guest.driver.allocate(64), 64, true)])
        #expect(try guest.staysQuiet())
        #expect(device.statistics.droppedPackets == 4)

        // Addressed to another CID, an unknown op, an unknown type, a packet for no connection: RST.
        var elsewhere = guest.packet(Op.request, guestPort: 10, hostPort: 20)
        elsewhere.dstCID = 9
        let unknownOp = guest.packet(99, guestPort: 11, hostPort: 21)
        var seqpacket = guest.packet(Op.request, guestPort: 12, hostPort: 22)
        seqpacket.type = 2
        let strayData = guest.packet(Op.readWrite, guestPort: 13, hostPort: 23, payload: [1, 2, 3])
        let strayUpdate = guest.packet(Op.creditUpdate, guestPort: 14, hostPort: 24)
        for packet in [elsewhere, unknownOp, seqpacket, strayData, strayUpdate] {
            try guest.send(packet)
            let reset = try guest.receiveOne()
            #expect(reset.op == Op.reset, "\(packet)")
            #expect(reset.dstCID == guestCID && reset.srcCID == packet.dstCID)
            #expect(reset.srcPort == packet.dstPort && reset.dstPort == packet.srcPort)
        }
        // An RST for no connection is not answered.
        try guest.send(guest.packet(Op.reset, guestPort: 15, hostPort: 25))
        #expect(try guest.staysQuiet())

        // A header split across two descriptors still parses (this one is refused: no listener).
        let split = guest.packet(Op.request, guestPort: 16, hostPort: 26).bytes
        try guest.sendBuffers([
            (try guest.driver.place(Array(split[..<13])), 13, false),
            (try guest.driver.place(Array(split[13...])), 31, false),
        ])
        #expect(try guest.receiveOne().op == Op.reset)

        // On a live connection: a length beyond the chain, a length beyond 64 KiB.
        let echo = try EchoServer(path: directory.path + "/v.sock_500")
        try guest.send(guest.packet(Op.request, guestPort: 3000, hostPort: 500))
        #expect(try guest.receiveOne().op == Op.response)
        var lying = guest.packet(Op.readWrite, guestPort: 3000, hostPort: 500, payload: [1, 2, 3])
        lying.length = 1000
        try guest.send(lying)
        #expect(try guest.receiveOne().op == Op.reset)
        #expect(echo.finished.wait(timeout: .now() + 5) == .success)
        #expect(echo.echoed.load(ordering: .relaxed) == 0)

        let echo2 = try EchoServer(path: directory.path + "/v.sock_501")
        try guest.send(guest.packet(Op.request, guestPort: 3001, hostPort: 501))
        #expect(try guest.receiveOne().op == Op.response)
        var huge = guest.packet(
            Op.readWrite, guestPort: 3001, hostPort: 501, payload: [UInt8](repeating: 9, count: 70000))
        huge.length = 70000
        try guest.send(huge)
        #expect(try guest.receiveOne().op == Op.reset)
        #expect(echo2.finished.wait(timeout: .now() + 5) == .success)
        #expect(device.statistics.activeConnections == 0)
        #expect(device.statistics.protocolErrors >= 7)

        // The connection limit (2): the third connect is refused.
        let listeners = try (600..<603).map { try EchoServer(path: directory.path + "/v.sock_\($0)") }
        for port: UInt32 in 600..<602 {
            try guest.send(guest.packet(Op.request, guestPort: port, hostPort: port))
            #expect(try guest.receiveOne().op == Op.response)
        }
        try guest.send(guest.packet(Op.request, guestPort: 602, hostPort: 602))
        #expect(try guest.receiveOne().op == Op.reset)
        #expect(device.statistics.activeConnections == 2)
        withExtendedLifetime(listeners) {}
    }

    @Test("read-only and tiny receive buffers come back empty; the device keeps working")
    func unusableReceiveBuffers() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory)
        let guest = try Guest(device, receiveBuffers: 0)
        try guest.postReceiveBuffers(2, writable: false)
        try guest.postReceiveBuffers(1, size: 20)
        try guest.send(guest.packet(Op.request, guestPort: 1025, hostPort: 9))
        let empty = try guest.receiveRaw(3)
        #expect(empty.map(\.length) == [0, 0, 0])
        #expect(try guest.staysQuiet())
        try guest.postReceiveBuffers(1)
        #expect(try guest.receiveOne().op == Op.reset)
        #expect(device.statistics.unusableReceiveBuffers == 3)
    }

    @Test("a ring fault marks the device broken and closes its connections")
    func ringFault() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory)
        let guest = try Guest(device)
        let client = try connectClient(directory.path + "/v.sock")
        defer { close(client) }
        writeAll(client, Array("CONNECT 52\n".utf8))
        let port = try guest.receiveOne().srcPort
        try guest.send(guest.packet(Op.response, guestPort: 52, hostPort: port))
        #expect(readLine(client) == "OK \(port)\n")
        // A transmit buffer past the end of guest memory.
        try guest.driver.post(queue: 1, [(TestDriver<VsockDevice<TestMemory>>.memorySize - 16, 64, false)])
        try waitUntil { guest.driver.transport.brokenReason != nil }
        #expect(guest.driver.read(MmioRegister.status) & DeviceStatus.deviceNeedsReset.rawValue != 0)
        #expect(seesEndOfStream(client))
        #expect(device.statistics.activeConnections == 0)
        // Host data and new clients no longer reach the broken device; they wait for a reset.
        let late = try connectClient(directory.path + "/v.sock")
        defer { close(late) }
        writeAll(late, Array("CONNECT 53\n".utf8))
        #expect(try guest.staysQuiet())
    }

    @Test("a driver reset closes every connection; the socket path survives and serves the next driver")
    func resetClosesConnections() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory)
        let guest = try Guest(device)
        let client = try connectClient(directory.path + "/v.sock")
        defer { close(client) }
        writeAll(client, Array("CONNECT 52\n".utf8))
        let port = try guest.receiveOne().srcPort
        try guest.send(guest.packet(Op.response, guestPort: 52, hostPort: port))
        #expect(readLine(client) == "OK \(port)\n")
        let waiting = try connectClient(directory.path + "/v.sock")  // still typing its CONNECT line
        defer { close(waiting) }
        writeAll(waiting, Array("CONN".utf8))
        try waitUntil { device.statistics.activeConnections == 1 && device.statistics.pendingClients == 1 }

        guest.driver.write(MmioRegister.status, 0)
        #expect(seesEndOfStream(client))
        #expect(seesEndOfStream(waiting))
        #expect(exists(directory.path + "/v.sock"))
        #expect(device.statistics.activeConnections == 0)

        // A new driver: a fresh start with fresh rings.
        let next = try Guest(device)
        let again = try connectClient(directory.path + "/v.sock")
        defer { close(again) }
        writeAll(again, Array("CONNECT 53\n".utf8))
        let request = try next.receiveOne()
        #expect(request.op == Op.request && request.dstPort == 53)
        #expect(device.statistics.hostConnections == 2)
    }

    @Test("host clients beyond the pending limit are closed at once")
    func pendingClientLimit() throws {
        let directory = try TemporaryDirectory(prefix: "vsock")
        let device = try makeDevice(in: directory) { $0.maximumPendingClients = 2 }
        let guest = try Guest(device)
        let clients = try (0..<3).map { _ in try connectClient(directory.path + "/v.sock") }
        defer { for client in clients { close(client) } }
        // Two wait for their CONNECT line; the third is closed.
        #expect(seesEndOfStream(clients[2]))
        #expect(device.statistics.rejectedClients == 1)
        writeAll(clients[0], Array("CONNECT 1\n".utf8))
        #expect(try guest.receiveOne().op == Op.request)
    }
}

/// Polls `condition` for up to 5 s.
private func waitUntil(_ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + .seconds(5)
    while try !condition() {
        if ContinuousClock.now > deadline { throw TestDriverError("condition not met in time") }
        usleep(2000)
    }
}
