// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMSysUtil

/// A connection's identity: the host-side port and the guest-side port.
struct ConnectionKey: Hashable {
    /// The port on the host end (`dst_port` of the guest's packets).
    let localPort: UInt32
    /// The port on the guest end (`src_port` of the guest's packets).
    let peerPort: UInt32
}

/// Bytes waiting to be written, first in first out. The owner bounds its size.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ bytes: [UInt8]) { storage.append(contentsOf: bytes) }

    /// Calls `body` with the queued bytes, then drops the first `consumed` of them.
    mutating func drain(_ body: (UnsafeRawBufferPointer) -> Int) {
        guard !isEmpty else { return }
        // SAFETY: the buffer is the live part of `storage` for the duration of `body`.
        let consumed = unsafe storage.withUnsafeBytes { raw in
            unsafe body(UnsafeRawBufferPointer(rebasing: raw[head...]))
        }
        head += min(max(consumed, 0), count)
        if head == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 64 * 1024)
            head = 0
        } else if head >= 4096 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        storage = []
        head = 0
    }
}

/// Control packets a connection owes the guest, sent when rx buffers allow.
struct PendingControl: OptionSet {
    let rawValue: UInt8
    static let request = PendingControl(rawValue: 1 << 0)
    static let response = PendingControl(rawValue: 1 << 1)
    static let creditUpdate = PendingControl(rawValue: 1 << 2)
}

/// A host socket the vsock backend owns; closed when the last reference goes,
/// which is after the backend unregistered it from the event loop.
final class HostSocket {
    let descriptor: FileDescriptor
    init(_ descriptor: consuming FileDescriptor) { self.descriptor = descriptor }
    var fd: Int32 { descriptor.rawValue }
}

/// One guest stream mapped to one host Unix socket. Lives on the event loop
/// thread, inside the device's lock.
final class VsockConnection {
    enum State: Equatable {
        /// Host-initiated: the REQUEST is queued or sent, the guest has not answered.
        case connecting
        /// Data flows both ways.
        case established
        /// The guest shut down both directions: the bytes it sent are drained, then RST.
        case closing
    }

    let key: ConnectionKey
    let socket: HostSocket
    /// The epoll data that identifies this socket's events.
    let token: UInt64
    var state: State
    /// Opened by a host client (its local port came from the allocator).
    var hostInitiated = false

    // Guest to host: bytes the guest sent that the host socket did not take yet.
    var outgoing = ByteQueue()
    /// `fwd_cnt` we report: guest bytes handed to the host socket.
    var forwardCount: UInt32 = 0
    /// The `fwd_cnt` the guest last saw from us.
    var advertisedForwardCount: UInt32 = 0

    // Host to guest.
    /// The guest's `buf_alloc` and `fwd_cnt`, from its latest packet.
    var peerBufferAllocation: UInt32 = 0
    var peerForwardCount: UInt32 = 0
    /// Payload bytes sent to the guest, free-running (the peer's `rx_cnt` view).
    var sentCount: UInt32 = 0
    /// A CREDIT_REQUEST went out and no new credit arrived since.
    var creditRequested = false
    /// The socket may hold bytes not read yet (set by readiness, cleared by `EAGAIN`).
    var readHint = false
    /// The host end sent end of stream.
    var hostFinished = false
    /// `SHUT_WR` was applied to the socket after the guest's SHUTDOWN(SEND).
    var hostWriteClosed = false
    /// Shutdown flags the guest sent.
    var guestShutdown: UInt32 = 0

    var pending: PendingControl = []
    /// The connection's key is in the rx service queue.
    var queuedForRx = false
    /// What epoll watches for the socket now (empty: not registered).
    var registeredEvents: Epoll.Events = []
    /// When the connection is dropped if it is still ``State/connecting`` or ``State/closing``.
    var deadline: ContinuousClock.Instant?

    init(key: ConnectionKey, socket: HostSocket, token: UInt64, state: State) {
        self.key = key
        self.socket = socket
        self.token = token
        self.state = state
    }

    /// Bytes the guest can still take: its `buf_alloc` minus what is in flight.
    /// A guest reporting more forwarded than sent gets no credit rather than a wrap.
    var peerCredit: UInt32 {
        let inFlight = sentCount &- peerForwardCount
        return inFlight > peerBufferAllocation ? 0 : peerBufferAllocation - inFlight
    }

    /// Whether the connection may read its host socket on the guest's behalf.
    var readsHost: Bool {
        state == .established && !hostFinished && guestShutdown & VsockHeader.shutdownReceive == 0
    }

    /// Whether the rx pump has something to send for it.
    var wantsRx: Bool {
        if !pending.isEmpty { return true }
        guard readsHost, readHint else { return false }
        return peerCredit > 0 || !creditRequested
    }

    /// The readiness epoll should report for the socket.
    var desiredEvents: Epoll.Events {
        var events: Epoll.Events = []
        if readsHost && !readHint { events.insert(.readable) }
        if !outgoing.isEmpty { events.insert(.writable) }
        return events
    }
}

/// A host client that connected to the listener and has not finished its
/// `CONNECT <port>\n` line yet.
final class PendingClient {
    let socket: HostSocket
    let token: UInt64
    var line: [UInt8] = []
    let deadline: ContinuousClock.Instant

    init(socket: HostSocket, token: UInt64, deadline: ContinuousClock.Instant) {
        self.socket = socket
        self.token = token
        self.deadline = deadline
    }
}
