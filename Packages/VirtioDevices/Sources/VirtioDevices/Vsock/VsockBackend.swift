// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Synchronization
import VMMSysUtil
import VMMemory
import VirtioQueue

/// Event-loop data values of the backend's descriptors; sockets count up from ``firstSocket``.
enum VsockToken {
    static let kick: UInt64 = 0
    static let listener: UInt64 = 1
    static let timer: UInt64 = 2
    static let firstSocket: UInt64 = 16
}

/// Queue indices of virtio-vsock.
enum VsockQueue {
    static let receive = 0
    static let transmit = 1
    static let event = 2
}

/// The descriptors a vsock device keeps for its whole life: the listening socket
/// (bound at creation so host clients can connect before the guest boots), the
/// eventfd that moves queue notifications onto the backend's subscriber, and the
/// timer for connection deadlines.
final class VsockHostDescriptors: Sendable {
    let listener: FileDescriptor
    let kick: EventFd
    let timer: TimerFd
    /// Bit `i`: queue `i` was notified since the backend last looked.
    let notifiedQueues = Atomic<UInt8>(0)

    init(listener: consuming FileDescriptor) throws(SystemError) {
        self.listener = listener
        kick = try EventFd(flags: [.nonBlocking])
        timer = try TimerFd(flags: [.nonBlocking])
    }
}

/// One activation's worth of vsock state: the connections, the host clients
/// still sending their `CONNECT` line, and the packets owed to the guest.
///
/// Used only on the event loop thread, inside the device's lock, from the
/// device's own ``EventSubscriber`` (queue notifications reach it through the
/// kick eventfd), so every socket change has the subscriber's `EventOps` at hand.
final class VsockBackend<Memory: GuestMemory>: @unchecked Sendable {
    // Unchecked: a backend is used only while the device's Mutex is held, or, once
    // a reset took it out of the device, by the one job that retires it on the loop
    // thread. No two threads ever touch it at once.

    /// The largest payload of one packet (Linux's `VIRTIO_VSOCK_MAX_PKT_BUF_SIZE`).
    static var maximumPayload: Int { 64 * 1024 }
    /// The longest `CONNECT <port>\n` line accepted ("CONNECT 4294967295\n" is 19 bytes).
    static var maximumCommandLength: Int { 32 }
    /// First local port handed to host-initiated connections (as Firecracker does).
    static var firstLocalPort: UInt32 { 1 << 30 }

    var activation: VirtioActivation<Memory>
    let configuration: VsockConfiguration
    let host: VsockHostDescriptors
    var statistics = VsockStatistics()

    private var connections: [ConnectionKey: VsockConnection] = [:]
    private var socketOwners: [UInt64: ConnectionKey] = [:]
    private var clients: [UInt64: PendingClient] = [:]
    private var hostInitiatedPorts: Set<UInt32> = []
    private var nextToken = VsockToken.firstSocket
    private var nextLocalPort = VsockBackend.firstLocalPort
    /// Packets not tied to a live connection (RSTs), oldest first; bounded.
    private var controlQueue: [VsockHeader] = []
    private var controlQueueHead = 0
    /// Connections with something for the guest, in service order.
    private var rxQueue: [ConnectionKey] = []
    private var rxQueueHead = 0
    /// A receive chain taken from the ring but not filled (nothing was ready after all).
    private var heldRxChain: DescriptorChain?
    private var interestChanged: Set<ConnectionKey> = []
    private var deadlinesChanged = false
    private var broken = false
    /// While set, the listener is out of epoll (accept failed, say with `EMFILE`: a
    /// client left in the backlog would keep it readable and spin the loop).
    private var listenerPausedUntil: ContinuousClock.Instant?

    init(activation: VirtioActivation<Memory>, configuration: VsockConfiguration, host: VsockHostDescriptors) {
        self.activation = activation
        self.configuration = configuration
        self.host = host
    }

    var activeConnections: Int { connections.count }
    var pendingClients: Int { clients.count }
    private var controlQueueLimit: Int { 2 * configuration.maximumConnections + 64 }
    private var creditUpdateThreshold: UInt32 { max(1, configuration.bufferSize / 4) }

    /// Closes every connection and pending client. Runs on the loop thread after the
    /// subscriber was removed, so no socket is still watched when it closes.
    func shutdown() {
        connections = [:]
        socketOwners = [:]
        clients = [:]
        controlQueue = []
        controlQueueHead = 0
        rxQueue = []
        rxQueueHead = 0
        heldRxChain = nil
        try? host.timer.disarm()
    }

    // MARK: Dispatch

    /// Handles one ready descriptor, then sends what became sendable and updates
    /// the event loop's view of the sockets.
    func handle(_ event: ReadyEvent, ops: EventOps) {
        guard !broken else {
            _ = try? host.kick.wait()
            return
        }
        switch event.data {
        case VsockToken.kick:
            _ = try? host.kick.wait()
            let queues = host.notifiedQueues.exchange(0, ordering: .acquiringAndReleasing)
            if queues & (1 << VsockQueue.transmit) != 0 { serveTransmitQueue(ops) }
        case VsockToken.listener:
            acceptClients(ops)
        case VsockToken.timer:
            _ = try? host.timer.wait()
            expireDeadlines(ops)
        default:
            if let key = socketOwners[event.data], let connection = connections[key] {
                socketReady(connection, events: event.events, ops: ops)
            } else if let client = clients[event.data] {
                clientReadable(client, ops: ops)
            }
        }
        pumpReceiveQueue(ops)
        if broken {
            quiesce(ops)
            return
        }
        applyInterest(ops)
        if deadlinesChanged { armTimer() }
    }

    /// After a ring fault: stop watching every socket (one left readable and never
    /// read would spin the loop) and close the connections; the driver must reset.
    private func quiesce(_ ops: EventOps) {
        for descriptor in ops.descriptors where descriptor != host.kick.descriptor.rawValue {
            try? ops.remove(descriptor)
        }
        shutdown()
    }

    // MARK: Transmit queue (guest to host)

    private func serveTransmitQueue(_ ops: EventOps) {
        // Inside serveQueue only the chain and `memory` are used, never `activation`
        // (serveQueue holds it); replies wait in the queues for the receive pump.
        let served = activation.serveQueue(VsockQueue.transmit) { chain, memory throws(VirtioDeviceError) in
            self.transmitPacket(chain, memory: memory, ops: ops)
            return 0
        }
        if !served { broken = true }
    }

    private func transmitPacket(_ chain: DescriptorChain, memory: Memory, ops: EventOps) {
        var reader = DescriptorChainReader(chain)
        guard reader.remaining >= UInt64(VsockHeader.size),
            let bytes = try? reader.readBytes(VsockHeader.size, from: memory),
            let header = VsockHeader(decoding: bytes)
        else {
            statistics.droppedPackets += 1
            return
        }
        // A packet claiming another source is spoofed: dropped without a word, so the
        // guest cannot make the device talk to a CID it does not own.
        guard header.sourceCID == configuration.guestCID else {
            statistics.droppedPackets += 1
            return
        }
        let key = ConnectionKey(localPort: header.destinationPort, peerPort: header.sourcePort)
        guard header.destinationCID == VsockHeader.hostCID, header.type == VsockHeader.streamType,
            let operation = header.operation
        else {
            statistics.protocolErrors += 1
            if let connection = connections[key], header.destinationCID == VsockHeader.hostCID {
                close(connection, reset: true, ops: ops)
            } else {
                answerReset(header)
            }
            return
        }
        if operation == .request {
            openGuestConnection(header, key: key, ops: ops)
            return
        }
        guard let connection = connections[key] else {
            if operation != .reset {
                statistics.protocolErrors += 1
                answerReset(header)
            }
            return
        }
        // Every packet carries the guest's current credit for this connection.
        connection.peerBufferAllocation = header.bufferAllocation
        connection.peerForwardCount = header.forwardCount
        if connection.peerCredit > 0 { connection.creditRequested = false }
        switch operation {
        case .request:
            break  // handled above
        case .response:
            guestAccepted(connection, ops: ops)
        case .reset:
            close(connection, reset: false, ops: ops)
        case .shutdown:
            guestShutdown(connection, flags: header.flags, ops: ops)
        case .readWrite:
            guestData(connection, header: header, chain: chain, reader: &reader, memory: memory, ops: ops)
        case .creditUpdate:
            break  // the credit was taken above
        case .creditRequest:
            connection.pending.insert(.creditUpdate)
        }
        if connections[key] === connection {
            schedule(connection)
            interestChanged.insert(key)
        }
    }

    /// The guest connects to host port `destinationPort`: connect to `<path>_<port>`.
    private func openGuestConnection(_ header: VsockHeader, key: ConnectionKey, ops: EventOps) {
        if let stale = connections[key] {
            // The guest reuses a live connection's ports: it lost track, so both go.
            statistics.protocolErrors += 1
            close(stale, reset: true, ops: ops)
            return
        }
        guard connections.count + clients.count < configuration.maximumConnections else {
            statistics.refusedConnections += 1
            answerReset(header)
            return
        }
        let socket: FileDescriptor
        do {
            socket = try UnixStreamIO.connect(to: "\(configuration.socketPath)_\(header.destinationPort)")
        } catch {
            statistics.refusedConnections += 1
            answerReset(header)
            return
        }
        let connection = VsockConnection(
            key: key, socket: HostSocket(socket), token: takeToken(), state: .established)
        connection.peerBufferAllocation = header.bufferAllocation
        connection.peerForwardCount = header.forwardCount
        connection.pending.insert(.response)
        connections[key] = connection
        socketOwners[connection.token] = key
        statistics.guestConnections += 1
        schedule(connection)
        interestChanged.insert(key)
    }

    /// The guest answered a host-initiated REQUEST: tell the host client its port.
    private func guestAccepted(_ connection: VsockConnection, ops: EventOps) {
        guard connection.state == .connecting else {
            statistics.protocolErrors += 1
            close(connection, reset: true, ops: ops)
            return
        }
        let reply = Array("OK \(connection.key.localPort)\n".utf8)
        // A fresh socket's send buffer takes a few bytes; anything else means the client is gone.
        guard UnixStreamIO.send(connection.socket.fd, reply) == .transferred(reply.count) else {
            close(connection, reset: true, ops: ops)
            return
        }
        connection.state = .established
        connection.deadline = nil
        deadlinesChanged = true
    }

    private func guestShutdown(_ connection: VsockConnection, flags: UInt32, ops: EventOps) {
        guard connection.state != .connecting else {
            statistics.protocolErrors += 1
            close(connection, reset: true, ops: ops)
            return
        }
        connection.guestShutdown |= flags & (VsockHeader.shutdownReceive | VsockHeader.shutdownSend)
        if connection.guestShutdown == VsockHeader.shutdownReceive | VsockHeader.shutdownSend,
            connection.state == .established
        {
            // Full shutdown: drain what the guest sent, then RST (bounded by the deadline).
            connection.state = .closing
            connection.deadline = .now + configuration.shutdownTimeout
            deadlinesChanged = true
        }
        outgoingProgressed(connection, ops: ops)
    }

    private func guestData(
        _ connection: VsockConnection, header: VsockHeader, chain: DescriptorChain,
        reader: inout DescriptorChainReader, memory: Memory, ops: EventOps
    ) {
        guard connection.state == .established, connection.guestShutdown & VsockHeader.shutdownSend == 0 else {
            statistics.protocolErrors += 1
            close(connection, reset: true, ops: ops)
            return
        }
        let length = Int(header.length)
        guard length > 0 else { return }
        guard length <= Self.maximumPayload, UInt64(length) <= reader.remaining else {
            statistics.protocolErrors += 1
            close(connection, reset: true, ops: ops)
            return
        }
        // Our buf_alloc promised room for this many unforwarded bytes, no more.
        guard connection.outgoing.count + length <= Int(configuration.bufferSize) else {
            statistics.creditViolations += 1
            close(connection, reset: true, ops: ops)
            return
        }
        var written = 0
        if connection.outgoing.isEmpty {
            guard
                let slices = try? Self.slices(
                    of: chain.readable, offset: UInt64(VsockHeader.size), length: UInt64(length), memory: memory)
            else {
                close(connection, reset: true, ops: ops)
                return
            }
            switch UnixStreamIO.send(connection.socket.fd, slices: slices) {
            case .transferred(let count): written = count
            case .wouldBlock: break
            case .endOfStream, .failed:
                close(connection, reset: true, ops: ops)
                return
            }
            connection.forwardCount &+= UInt32(written)
        }
        if written < length {
            guard (try? reader.skip(UInt64(written))) != nil,
                let rest = try? reader.readBytes(length - written, from: memory)
            else {
                close(connection, reset: true, ops: ops)
                return
            }
            connection.outgoing.append(rest)
        }
        outgoingProgressed(connection, ops: ops)
    }

    // MARK: Host sockets

    private func socketReady(_ connection: VsockConnection, events: Epoll.Events, ops: EventOps) {
        if connection.readsHost && !events.isDisjoint(with: [.readable, .hangUp, .error, .readHangUp]) {
            connection.readHint = true
            schedule(connection)
        }
        if !connection.outgoing.isEmpty && !events.isDisjoint(with: [.writable, .hangUp, .error]) {
            flushOutgoing(connection, ops: ops)
        }
        interestChanged.insert(connection.key)
    }

    /// Writes queued guest bytes to the host socket.
    private func flushOutgoing(_ connection: VsockConnection, ops: EventOps) {
        var failed = false
        var written = 0
        // SAFETY: drain lends `bytes`, the live queued part of `outgoing`, only for the closure, which does not
        // keep it; send reads at most bytes.count of it and returns at most that, so `written` stays in bounds.
        unsafe connection.outgoing.drain { bytes in
            switch unsafe UnixStreamIO.send(connection.socket.fd, bytes) {
            case .transferred(let count): written = count
            case .wouldBlock: break
            case .endOfStream, .failed: failed = true
            }
            return written
        }
        if failed {
            close(connection, reset: true, ops: ops)
            return
        }
        connection.forwardCount &+= UInt32(written)
        outgoingProgressed(connection, ops: ops)
    }

    /// After guest bytes moved: owe the guest credit, and finish shutdowns once drained.
    private func outgoingProgressed(_ connection: VsockConnection, ops: EventOps) {
        if connection.forwardCount &- connection.advertisedForwardCount >= creditUpdateThreshold {
            connection.pending.insert(.creditUpdate)
            schedule(connection)
        }
        interestChanged.insert(connection.key)
        guard connection.outgoing.isEmpty else { return }
        if connection.guestShutdown & VsockHeader.shutdownSend != 0 && !connection.hostWriteClosed {
            UnixStreamIO.shutdownWrite(connection.socket.fd)
            connection.hostWriteClosed = true
        }
        let bothDone = connection.hostFinished && connection.guestShutdown & VsockHeader.shutdownSend != 0
        if connection.state == .closing || bothDone {
            close(connection, reset: true, ops: ops)
        }
    }

    // MARK: Host clients (host-initiated connections)

    private func acceptClients(_ ops: EventOps) {
        // A bounded batch per wake-up; the listener stays readable for the rest.
        for _ in 0..<16 {
            let accepted: FileDescriptor?
            do { accepted = try UnixStreamIO.accept(host.listener) } catch {
                pauseListener(ops)
                return
            }
            guard let accepted else { return }
            let socket = HostSocket(accepted)
            guard clients.count < configuration.maximumPendingClients,
                connections.count + clients.count < configuration.maximumConnections
            else {
                statistics.rejectedClients += 1
                continue  // closed as `socket` goes
            }
            let token = takeToken()
            do {
                try ops.add(socket.fd, events: .readable, data: token)
            } catch {
                statistics.rejectedClients += 1
                continue
            }
            clients[token] = PendingClient(
                socket: socket, token: token, deadline: .now + configuration.connectCommandTimeout)
            deadlinesChanged = true
        }
    }

    private func pauseListener(_ ops: EventOps) {
        guard listenerPausedUntil == nil else { return }
        try? ops.remove(host.listener.rawValue)
        listenerPausedUntil = .now + .milliseconds(100)
        deadlinesChanged = true
    }

    private func clientReadable(_ client: PendingClient, ops: EventOps) {
        let room = Self.maximumCommandLength - client.line.count
        // Peek first so no byte after the newline is consumed: those belong to the guest.
        let (outcome, peeked) = UnixStreamIO.receive(client.socket.fd, maximum: room, peek: true)
        switch outcome {
        case .wouldBlock:
            return
        case .endOfStream, .failed:
            dropClient(client, ops: ops)
            return
        case .transferred:
            break
        }
        let newline = peeked.firstIndex(of: UInt8(ascii: "\n"))
        let take = newline.map { $0 + 1 } ?? peeked.count
        let (consumed, bytes) = UnixStreamIO.receive(client.socket.fd, maximum: take)
        guard consumed == .transferred(take) else {
            dropClient(client, ops: ops)
            return
        }
        client.line += bytes
        guard newline != nil else {
            if client.line.count >= Self.maximumCommandLength { dropClient(client, ops: ops) }
            return
        }
        guard let port = Self.parseConnectCommand(client.line) else {
            dropClient(client, ops: ops)
            return
        }
        openHostConnection(client, guestPort: port, ops: ops)
    }

    /// `CONNECT <decimal port>\n`, nothing more, nothing less.
    static func parseConnectCommand(_ line: [UInt8]) -> UInt32? {
        let prefix = Array("CONNECT ".utf8)
        guard line.count > prefix.count + 1, line.starts(with: prefix), line.last == UInt8(ascii: "\n") else {
            return nil
        }
        let digits = line[prefix.count..<(line.count - 1)]
        guard digits.count <= 10 else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(digit - UInt8(ascii: "0"))
        }
        return value <= UInt64(UInt32.max) ? UInt32(value) : nil
    }

    private func openHostConnection(_ client: PendingClient, guestPort: UInt32, ops: EventOps) {
        clients[client.token] = nil
        deadlinesChanged = true
        // Until the guest accepts, the client's bytes wait in its socket.
        try? ops.remove(client.socket.fd)
        guard let localPort = allocateLocalPort(peerPort: guestPort) else {
            statistics.rejectedClients += 1
            return
        }
        let key = ConnectionKey(localPort: localPort, peerPort: guestPort)
        let connection = VsockConnection(key: key, socket: client.socket, token: client.token, state: .connecting)
        connection.hostInitiated = true
        connection.pending.insert(.request)
        connection.deadline = .now + configuration.responseTimeout
        connections[key] = connection
        socketOwners[client.token] = key
        hostInitiatedPorts.insert(localPort)
        statistics.hostConnections += 1
        schedule(connection)
    }

    private func allocateLocalPort(peerPort: UInt32) -> UInt32? {
        for _ in 0...configuration.maximumConnections {
            let candidate = nextLocalPort
            nextLocalPort = nextLocalPort == .max ? Self.firstLocalPort : nextLocalPort + 1
            if !hostInitiatedPorts.contains(candidate)
                && connections[ConnectionKey(localPort: candidate, peerPort: peerPort)] == nil
            {
                return candidate
            }
        }
        return nil
    }

    private func dropClient(_ client: PendingClient, ops: EventOps) {
        try? ops.remove(client.socket.fd)
        clients[client.token] = nil
        statistics.rejectedClients += 1
        deadlinesChanged = true
    }

    // MARK: Receive queue (host to guest)

    /// Fills receive chains with owed control packets and host data until either runs out.
    private func pumpReceiveQueue(_ ops: EventOps) {
        var used = false
        // Each round uses a chain, or drops a connection from the queue: bounded.
        var rounds = 4 * Int(Virtqueue.largestSize) + connections.count + controlQueue.count
        while !broken, rounds > 0, controlQueueHead < controlQueue.count || rxQueueHead < rxQueue.count {
            rounds -= 1
            guard let chain = takeReceiveChain() else { break }
            if chain.writableLength < UInt64(VsockHeader.size) {
                // Read-only or tiny: no packet fits. Give it back empty.
                statistics.unusableReceiveBuffers += 1
                used = complete(chain, length: 0) || used
                continue
            }
            if controlQueueHead < controlQueue.count {
                let header = controlQueue[controlQueueHead]
                controlQueueHead += 1
                used = send(header, in: chain) || used
                continue
            }
            let key = rxQueue[rxQueueHead]
            rxQueueHead += 1
            guard let connection = connections[key] else {
                heldRxChain = chain
                continue
            }
            connection.queuedForRx = false
            switch fill(chain, for: connection, ops: ops) {
            case .filled(let length): used = complete(chain, length: length) || used
            case .nothing: heldRxChain = chain
            case .discard:
                statistics.unusableReceiveBuffers += 1
                used = complete(chain, length: 0) || used
            }
            if connections[key] === connection { schedule(connection) }
        }
        // Drop what was sent, so neither queue grows while the guest keeps it half full.
        if controlQueueHead == controlQueue.count {
            controlQueue.removeAll(keepingCapacity: true)
            controlQueueHead = 0
        } else if controlQueueHead > 1024 {
            controlQueue.removeFirst(controlQueueHead)
            controlQueueHead = 0
        }
        if rxQueueHead == rxQueue.count {
            rxQueue.removeAll(keepingCapacity: true)
            rxQueueHead = 0
        } else if rxQueueHead > 1024 {
            rxQueue.removeFirst(rxQueueHead)
            rxQueueHead = 0
        }
        if used && !broken {
            do throws(VirtioDeviceError) {
                let memory = activation.memory
                if try queueCall({ () throws(VirtioQueueError) in
                    try activation.queues[VsockQueue.receive].needsNotification(memory)
                }) {
                    activation.interrupt.signal(.usedBuffer, queue: VsockQueue.receive)
                }
            } catch {
                fail("receive queue: \(error)")
            }
        }
    }

    private enum Fill {
        case filled(UInt32)
        case nothing
        case discard
    }

    /// Puts the connection's next packet into `chain`.
    private func fill(_ chain: DescriptorChain, for connection: VsockConnection, ops: EventOps) -> Fill {
        var header = VsockHeader(
            sourceCID: VsockHeader.hostCID, destinationCID: configuration.guestCID,
            sourcePort: connection.key.localPort, destinationPort: connection.key.peerPort, operation: .readWrite)
        let control: [(PendingControl, VsockOperation)] = [
            (.request, .request), (.response, .response), (.creditUpdate, .creditUpdate),
        ]
        for (flag, operation) in control where connection.pending.contains(flag) {
            connection.pending.remove(flag)
            header.rawOperation = operation.rawValue
            return write(header, for: connection, in: chain) ? .filled(UInt32(VsockHeader.size)) : .nothing
        }
        guard connection.readsHost, connection.readHint else { return .nothing }
        let credit = connection.peerCredit
        if credit == 0 {
            guard !connection.creditRequested else { return .nothing }
            // Out of credit with data waiting: ask once; the guest answers with an update.
            connection.creditRequested = true
            header.rawOperation = VsockOperation.creditRequest.rawValue
            return write(header, for: connection, in: chain) ? .filled(UInt32(VsockHeader.size)) : .nothing
        }
        let room = chain.writableLength - UInt64(VsockHeader.size)
        guard room > 0 else { return .discard }
        let wanted = min(UInt64(credit), room, UInt64(Self.maximumPayload))
        let memory = activation.memory
        guard
            let slices = try? Self.slices(
                of: chain.writable, offset: UInt64(VsockHeader.size), length: wanted, memory: memory)
        else {
            return .discard
        }
        switch UnixStreamIO.receive(connection.socket.fd, slices: slices) {
        case .transferred(let count):
            header.length = UInt32(count)
            connection.sentCount &+= UInt32(count)
            guard write(header, for: connection, in: chain) else { return .nothing }
            return .filled(UInt32(VsockHeader.size + count))
        case .wouldBlock:
            connection.readHint = false
            interestChanged.insert(connection.key)
            return .nothing
        case .endOfStream:
            // The host end will send no more: say so, and finish if the guest is done too.
            connection.hostFinished = true
            connection.readHint = false
            header.rawOperation = VsockOperation.shutdown.rawValue
            header.flags = VsockHeader.shutdownSend
            let sent = write(header, for: connection, in: chain)
            outgoingProgressed(connection, ops: ops)
            return sent ? .filled(UInt32(VsockHeader.size)) : .nothing
        case .failed:
            close(connection, reset: false, ops: ops)
            header.rawOperation = VsockOperation.reset.rawValue
            statistics.resetsSent += 1
            return write(header, for: connection, in: chain) ? .filled(UInt32(VsockHeader.size)) : .nothing
        }
    }

    /// Writes a connection's header (with our current credit) at the start of `chain`.
    private func write(_ header: VsockHeader, for connection: VsockConnection, in chain: DescriptorChain) -> Bool {
        var header = header
        header.bufferAllocation = configuration.bufferSize
        header.forwardCount = connection.forwardCount
        guard writeHeader(header, in: chain) else { return false }
        // Any packet carries the credit, so a separate update is no longer owed.
        connection.advertisedForwardCount = connection.forwardCount
        connection.pending.remove(.creditUpdate)
        return true
    }

    private func send(_ header: VsockHeader, in chain: DescriptorChain) -> Bool {
        guard writeHeader(header, in: chain) else { return false }
        return complete(chain, length: UInt32(VsockHeader.size))
    }

    private func writeHeader(_ header: VsockHeader, in chain: DescriptorChain) -> Bool {
        var writer = DescriptorChainWriter(chain)
        do {
            try writer.write(header.bytes, to: activation.memory)
            return true
        } catch {
            fail("receive buffer: \(error)")
            return false
        }
    }

    private func takeReceiveChain() -> DescriptorChain? {
        if let held = heldRxChain {
            heldRxChain = nil
            return held
        }
        let memory = activation.memory
        do throws(VirtioDeviceError) {
            return try queueCall { () throws(VirtioQueueError) -> DescriptorChain? in
                if let chain = try activation.queues[VsockQueue.receive].pop(from: memory) { return chain }
                // Ask to hear about new buffers, then look once more (they may have raced in).
                guard try activation.queues[VsockQueue.receive].enableNotification(in: memory) else { return nil }
                return try activation.queues[VsockQueue.receive].pop(from: memory)
            }
        } catch {
            fail("receive queue: \(error)")
            return nil
        }
    }

    /// Returns `chain` used; false (device broken) on a ring fault.
    private func complete(_ chain: DescriptorChain, length: UInt32) -> Bool {
        let memory = activation.memory
        do throws(VirtioDeviceError) {
            try queueCall { () throws(VirtioQueueError) in
                try activation.queues[VsockQueue.receive].addUsed(chain, writtenLength: length, to: memory)
            }
            return true
        } catch {
            fail("receive queue: \(error)")
            return false
        }
    }

    private func fail(_ reason: String) {
        guard !broken else { return }
        broken = true
        activation.markBroken(reason)
    }

    // MARK: Connection bookkeeping

    private func takeToken() -> UInt64 {
        defer { nextToken += 1 }
        return nextToken
    }

    private func schedule(_ connection: VsockConnection) {
        guard !connection.queuedForRx, connection.wantsRx else { return }
        connection.queuedForRx = true
        rxQueue.append(connection.key)
    }

    /// Owes the guest an RST for `key` (bounded: past the limit the guest's own timeout ends it).
    private func queueReset(
        sourcePort: UInt32, destinationPort: UInt32, sourceCID: UInt64 = VsockHeader.hostCID
    ) {
        guard controlQueue.count - controlQueueHead < controlQueueLimit else {
            statistics.droppedResets += 1
            return
        }
        var header = VsockHeader(
            sourceCID: sourceCID, destinationCID: configuration.guestCID, sourcePort: sourcePort,
            destinationPort: destinationPort, operation: .reset)
        header.bufferAllocation = configuration.bufferSize
        controlQueue.append(header)
        statistics.resetsSent += 1
    }

    /// Answers a packet that has no connection with an RST (never an RST with an RST).
    private func answerReset(_ header: VsockHeader) {
        guard header.operation != .reset else { return }
        queueReset(
            sourcePort: header.destinationPort, destinationPort: header.sourcePort, sourceCID: header.destinationCID)
    }

    /// Forgets a connection: stops watching its socket (closed when the last
    /// reference goes) and, with `reset`, tells the guest.
    private func close(_ connection: VsockConnection, reset: Bool, ops: EventOps) {
        let key = connection.key
        guard connections[key] === connection else { return }
        if !connection.registeredEvents.isEmpty {
            try? ops.remove(connection.socket.fd)
            connection.registeredEvents = []
        }
        connections[key] = nil
        socketOwners[connection.token] = nil
        interestChanged.remove(key)
        if connection.hostInitiated { hostInitiatedPorts.remove(key.localPort) }
        if connection.deadline != nil { deadlinesChanged = true }
        if reset { queueReset(sourcePort: key.localPort, destinationPort: key.peerPort) }
    }

    /// Makes epoll watch each changed socket for what it can use now. A socket
    /// with nothing to wait for is unregistered, so a hang-up cannot spin the loop.
    private func applyInterest(_ ops: EventOps) {
        let changed = interestChanged
        interestChanged = []
        for key in changed {
            guard let connection = connections[key] else { continue }
            let desired = connection.desiredEvents
            guard desired != connection.registeredEvents else { continue }
            do {
                if desired.isEmpty {
                    try ops.remove(connection.socket.fd)
                } else if connection.registeredEvents.isEmpty {
                    try ops.add(connection.socket.fd, events: desired, data: connection.token)
                } else {
                    try ops.modify(connection.socket.fd, events: desired)
                }
                connection.registeredEvents = desired
            } catch {
                close(connection, reset: true, ops: ops)
            }
        }
        if !interestChanged.isEmpty { applyInterest(ops) }
    }

    // MARK: Deadlines

    private func expireDeadlines(_ ops: EventOps) {
        let now = ContinuousClock.now
        for client in clients.values where client.deadline <= now {
            statistics.timeouts += 1
            dropClient(client, ops: ops)
        }
        for connection in connections.values {
            if let deadline = connection.deadline, deadline <= now {
                statistics.timeouts += 1
                close(connection, reset: true, ops: ops)
            }
        }
        if let resume = listenerPausedUntil, resume <= now {
            listenerPausedUntil = nil
            if (try? ops.add(host.listener.rawValue, events: .readable, data: VsockToken.listener)) == nil {
                pauseListener(ops)
            }
        }
        deadlinesChanged = true
    }

    private func armTimer() {
        deadlinesChanged = false
        var earliest = listenerPausedUntil
        for client in clients.values where earliest.map({ client.deadline < $0 }) ?? true {
            earliest = client.deadline
        }
        for connection in connections.values {
            if let deadline = connection.deadline, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
        }
        guard let earliest else {
            try? host.timer.disarm()
            return
        }
        let delay = earliest - .now
        try? host.timer.arm(after: delay > .zero ? delay : .zero)
    }

    // MARK: Guest memory

    /// The host slices of `length` bytes starting `offset` bytes into `buffers`.
    static func slices(
        of buffers: ArraySlice<ChainDescriptor>, offset: UInt64, length: UInt64, memory: Memory
    ) throws(GuestMemoryError) -> [VolatileSlice] {
        var skip = offset
        var left = length
        var result: [VolatileSlice] = []
        for buffer in buffers where left > 0 {
            let size = UInt64(buffer.length)
            if skip >= size {
                skip -= size
                continue
            }
            let take = min(size - skip, left)
            guard let start = buffer.address.checkedAdd(skip) else {
                throw .addressOverflow(buffer.address, length: skip)
            }
            result += try memory.slices(at: start, length: take)
            skip = 0
            left -= take
        }
        guard left == 0 else { throw .addressOverflow(GuestAddress(0), length: length) }
        return result
    }
}
