// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// The operation of a virtio-vsock packet (virtio 1.2, section 5.10.6).
///
/// ```swift
/// #expect(VsockOperation(rawValue: 5) == .readWrite)
/// ```
public enum VsockOperation: UInt16, Sendable, CaseIterable {
    /// `VIRTIO_VSOCK_OP_REQUEST`: open a connection.
    case request = 1
    /// `VIRTIO_VSOCK_OP_RESPONSE`: accept a connection.
    case response = 2
    /// `VIRTIO_VSOCK_OP_RST`: refuse or tear down a connection.
    case reset = 3
    /// `VIRTIO_VSOCK_OP_SHUTDOWN`: one side stops sending and/or receiving.
    case shutdown = 4
    /// `VIRTIO_VSOCK_OP_RW`: payload bytes.
    case readWrite = 5
    /// `VIRTIO_VSOCK_OP_CREDIT_UPDATE`: the sender's buffer space and forwarded count.
    case creditUpdate = 6
    /// `VIRTIO_VSOCK_OP_CREDIT_REQUEST`: asks the peer for a credit update.
    case creditRequest = 7
}

/// The 44-byte little-endian header in front of every virtio-vsock packet
/// (`struct virtio_vsock_hdr`, virtio 1.2, section 5.10.6).
///
/// Decoding takes any 44 bytes: the fields are plain integers and the device
/// checks each one against its own state, so a hostile header decodes fine
/// and is refused later.
///
/// ```swift
/// var header = VsockHeader(sourceCID: 2, destinationCID: 3, sourcePort: 1024, destinationPort: 52, operation: .request)
/// header.bufferAllocation = 256 * 1024
/// let bytes = header.bytes                       // 44 bytes for the rx queue
/// #expect(VsockHeader(decoding: bytes) == header)
/// ```
public struct VsockHeader: Sendable, Hashable {
    /// Bytes on the wire.
    public static var size: Int { 44 }
    /// The well-known CID of the host (`VMADDR_CID_HOST`).
    public static var hostCID: UInt64 { 2 }
    /// `VIRTIO_VSOCK_TYPE_STREAM`, the only type this device serves.
    public static var streamType: UInt16 { 1 }
    /// `VIRTIO_VSOCK_SHUTDOWN_RCV`: the sender will receive no more data.
    public static var shutdownReceive: UInt32 { 1 }
    /// `VIRTIO_VSOCK_SHUTDOWN_SEND`: the sender will send no more data.
    public static var shutdownSend: UInt32 { 2 }

    /// `src_cid`.
    public var sourceCID: UInt64
    /// `dst_cid`.
    public var destinationCID: UInt64
    /// `src_port`.
    public var sourcePort: UInt32
    /// `dst_port`.
    public var destinationPort: UInt32
    /// `len`: payload bytes after the header.
    public var length: UInt32
    /// `type` (``streamType`` for stream sockets).
    public var type: UInt16
    /// `op`, raw: a hostile guest may send values outside ``VsockOperation``.
    public var rawOperation: UInt16
    /// `flags` (shutdown flags for ``VsockOperation/shutdown``).
    public var flags: UInt32
    /// `buf_alloc`: the sender's receive buffer for this connection.
    public var bufferAllocation: UInt32
    /// `fwd_cnt`: bytes the sender has consumed from its receive buffer, free-running.
    public var forwardCount: UInt32

    /// A stream header with no payload, flags or credit.
    public init(
        sourceCID: UInt64, destinationCID: UInt64, sourcePort: UInt32, destinationPort: UInt32,
        operation: VsockOperation, length: UInt32 = 0, flags: UInt32 = 0
    ) {
        self.sourceCID = sourceCID
        self.destinationCID = destinationCID
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.length = length
        type = Self.streamType
        rawOperation = operation.rawValue
        self.flags = flags
        bufferAllocation = 0
        forwardCount = 0
    }

    /// Decodes the first 44 bytes of `bytes`; nil when there are fewer.
    public init?(decoding bytes: [UInt8]) {
        guard bytes.count >= Self.size else { return nil }
        func field<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            var value: T = 0
            for index in 0..<(T.bitWidth / 8) { value |= T(bytes[offset + index]) << (8 * index) }
            return value
        }
        sourceCID = field(0, UInt64.self)
        destinationCID = field(8, UInt64.self)
        sourcePort = field(16, UInt32.self)
        destinationPort = field(20, UInt32.self)
        length = field(24, UInt32.self)
        type = field(28, UInt16.self)
        rawOperation = field(30, UInt16.self)
        flags = field(32, UInt32.self)
        bufferAllocation = field(36, UInt32.self)
        forwardCount = field(40, UInt32.self)
    }

    /// The operation, or nil for a value the specification does not define.
    public var operation: VsockOperation? { VsockOperation(rawValue: rawOperation) }

    /// The 44 wire bytes, little-endian.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.size)
        func put<T: FixedWidthInteger>(_ value: T) {
            for index in 0..<(T.bitWidth / 8) { out.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
        }
        put(sourceCID)
        put(destinationCID)
        put(sourcePort)
        put(destinationPort)
        put(length)
        put(type)
        put(rawOperation)
        put(flags)
        put(bufferAllocation)
        put(forwardCount)
        return out
    }
}
