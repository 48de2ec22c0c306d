// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// `u32 index, u32 num`: a ring's size, base index or enable state.
public struct VringState: Sendable, Equatable {
    /// The ring index.
    public var index: UInt32
    /// The value: a ring size, a base index, or 1/0 for enabled.
    public var num: UInt32
    /// Creates a value from its fields.
    public init(index: UInt32, num: UInt32) {
        self.index = index
        self.num = num
    }
}

/// `SET_VRING_ADDR`: where a ring's parts are, as addresses in the front-end's own address
/// space (the back-end translates them through the memory table).
public struct VringAddress: Sendable, Equatable {
    /// The ring index.
    public var index: UInt32
    /// Bit 0: log used-ring writes.
    public var flags: UInt32
    /// The descriptor table.
    public var descriptorTable: UInt64
    /// The used ring.
    public var usedRing: UInt64
    /// The available ring.
    public var availableRing: UInt64
    /// Where used-ring writes are logged (with bit 0 of `flags`).
    public var log: UInt64
    /// Creates a value from its fields.
    public init(
        index: UInt32, flags: UInt32 = 0, descriptorTable: UInt64, usedRing: UInt64, availableRing: UInt64,
        log: UInt64 = 0
    ) {
        self.index = index
        self.flags = flags
        self.descriptorTable = descriptorTable
        self.usedRing = usedRing
        self.availableRing = availableRing
        self.log = log
    }
}

/// One guest memory region as the back-end maps it: the region's file descriptor travels
/// beside the message (SCM_RIGHTS), `mmapOffset` is where the region starts in that file.
public struct VhostUserMemoryRegion: Sendable, Equatable {
    /// The region's guest-physical start.
    public var guestAddress: UInt64
    /// The region's size in bytes.
    public var size: UInt64
    /// The region's address in the front-end's process (ring addresses are given in it).
    public var userAddress: UInt64
    /// Where the region starts in its file.
    public var mmapOffset: UInt64
    /// Creates a value from its fields.
    public init(guestAddress: UInt64, size: UInt64, userAddress: UInt64, mmapOffset: UInt64) {
        self.guestAddress = guestAddress
        self.size = size
        self.userAddress = userAddress
        self.mmapOffset = mmapOffset
    }
}

/// `GET_CONFIG`/`SET_CONFIG`: a window of the device's configuration space.
public struct VhostUserConfig: Sendable, Equatable {
    /// The window's offset in the configuration space.
    public var offset: UInt32
    /// Bit 0 of SET_CONFIG: the write is part of a migration.
    public var flags: UInt32
    /// The window's bytes (at most 256).
    public var bytes: [UInt8]
    /// Creates a value from its fields.
    public init(offset: UInt32, flags: UInt32 = 0, bytes: [UInt8]) {
        self.offset = offset
        self.flags = flags
        self.bytes = bytes
    }
}

/// A payload, by layout.
public enum VhostUserPayload: Sendable, Equatable {
    case empty
    case u64(UInt64)
    case vringState(VringState)
    case vringAddress(VringAddress)
    case memoryTable([VhostUserMemoryRegion])
    case memoryRegion(VhostUserMemoryRegion)
    case config(VhostUserConfig)
    case opaque([UInt8])

    /// The layout this payload has.
    public var layout: VhostUserPayloadLayout {
        switch self {
        case .empty: return .empty
        case .u64: return .u64
        case .vringState: return .vringState
        case .vringAddress: return .vringAddress
        case .memoryTable: return .memoryTable
        case .memoryRegion: return .memoryRegion
        case .config: return .config
        case .opaque: return .opaque
        }
    }
}

/// Why bytes are not a valid vhost-user message. Every field a peer controls is checked.
public enum VhostUserError: Error, Sendable, Equatable {
    /// Fewer than 12 header bytes.
    case truncatedHeader(count: Int)
    /// The version bits are not 1.
    case unsupportedVersion(flags: UInt32)
    /// Flag bits the protocol does not define.
    case unknownFlags(flags: UInt32)
    /// A request number this codec does not know.
    case unknownRequest(UInt32)
    /// The header's size is above ``VhostUserMessage/maximumPayloadSize``.
    case payloadTooLarge(size: UInt32)
    /// Fewer payload bytes than the header's size.
    case truncatedPayload(expected: Int, got: Int)
    /// More bytes than the header and its size: a framing error.
    case trailingBytes(count: Int)
    /// The size does not fit the request's layout.
    case sizeMismatch(request: UInt32, size: UInt32)
    /// A memory table with more regions than ``VhostUserMessage/maximumRegions`` or than its size holds.
    case badRegionCount(UInt32)
    /// A config window larger than ``VhostUserMessage/maximumConfigSize`` or than the payload.
    case badConfigSize(UInt32)
    /// A reply was expected and this message is not one, or answers another request.
    case unexpectedReply(expected: UInt32, got: UInt32, flags: UInt32)
    /// A `REPLY_ACK` with a non-zero status: the back-end refused the request.
    case refused(request: UInt32, status: UInt64)
}

/// One vhost-user message: header (request, flags, size) and payload. Descriptors travel
/// beside it (SCM_RIGHTS) and are not part of the bytes.
///
/// ```swift
/// let message = VhostUserMessage(.setVringNum, payload: .vringState(VringState(index: 0, num: 256)))
/// let bytes = message.encoded()                    // 12-byte header + 8-byte payload
/// let back = try VhostUserMessage.decode(bytes)    // == message
/// ```
public struct VhostUserMessage: Sendable, Equatable {
    /// Header size in bytes.
    public static let headerSize = 12
    /// Largest payload accepted (rust-vmm's bound; the largest defined layout is a full memory table, 264 bytes).
    public static let maximumPayloadSize: UInt32 = 4096
    /// Regions in one `SET_MEM_TABLE` (`VHOST_MEMORY_BASELINE_NREGIONS`).
    public static let maximumRegions = 8
    /// Largest config window (`VHOST_USER_MAX_CONFIG_SIZE`).
    public static let maximumConfigSize: UInt32 = 256

    /// The request number (a ``VhostUserRequest`` on the front-end channel, a
    /// ``VhostUserBackendRequest`` on the back-end channel).
    public var request: UInt32
    /// The flag bits.
    public var flags: VhostUserFlags
    /// The payload.
    public var payload: VhostUserPayload

    /// A message with version 1 flags plus `flags`.
    public init(_ request: VhostUserRequest, flags: VhostUserFlags = [], payload: VhostUserPayload = .empty) {
        self.init(rawRequest: request.rawValue, flags: flags, payload: payload)
    }

    /// A message with a raw request number (back-end channel, tests).
    public init(rawRequest: UInt32, flags: VhostUserFlags = [], payload: VhostUserPayload = .empty) {
        self.request = rawRequest
        self.flags = flags.union(.version1)
        self.payload = payload
    }

    /// Header and payload bytes, little-endian.
    public func encoded() -> [UInt8] {
        var body: [UInt8] = []
        switch payload {
        case .empty: break
        case .u64(let value): body.appendLE(value)
        case .vringState(let state):
            body.appendLE(state.index)
            body.appendLE(state.num)
        case .vringAddress(let address):
            body.appendLE(address.index)
            body.appendLE(address.flags)
            body.appendLE(address.descriptorTable)
            body.appendLE(address.usedRing)
            body.appendLE(address.availableRing)
            body.appendLE(address.log)
        case .memoryTable(let regions):
            body.appendLE(UInt32(truncatingIfNeeded: regions.count))
            body.appendLE(UInt32(0))
            for region in regions { body.appendRegion(region) }
        case .memoryRegion(let region):
            body.appendLE(UInt64(0))
            body.appendRegion(region)
        case .config(let config):
            body.appendLE(config.offset)
            body.appendLE(UInt32(truncatingIfNeeded: config.bytes.count))
            body.appendLE(config.flags)
            body += config.bytes
        case .opaque(let bytes): body = bytes
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.headerSize + body.count)
        bytes.appendLE(request)
        bytes.appendLE(flags.rawValue)
        bytes.appendLE(UInt32(truncatingIfNeeded: body.count))
        return bytes + body
    }

    /// Reads and checks a header: `(request, flags, size)`.
    public static func decodeHeader(
        _ bytes: [UInt8]
    ) throws(VhostUserError) -> (
        request: UInt32, flags: VhostUserFlags, size: UInt32
    ) {
        guard bytes.count >= headerSize else { throw .truncatedHeader(count: bytes.count) }
        let request = bytes.readLE32(at: 0)
        let flags = bytes.readLE32(at: 4)
        let size = bytes.readLE32(at: 8)
        guard flags & VhostUserFlags.versionMask == 1 else { throw .unsupportedVersion(flags: flags) }
        let known = VhostUserFlags.versionMask | VhostUserFlags.reply.rawValue | VhostUserFlags.needReply.rawValue
        guard flags & ~known == 0 else { throw .unknownFlags(flags: flags) }
        guard size <= maximumPayloadSize else { throw .payloadTooLarge(size: size) }
        return (request, VhostUserFlags(rawValue: flags), size)
    }

    /// Decodes a whole front-end request (header and exactly its payload), as a back-end reads it.
    public static func decode(_ bytes: [UInt8]) throws(VhostUserError) -> VhostUserMessage {
        let header = try decodeHeader(bytes)
        let extra = bytes.count - headerSize - Int(header.size)
        if extra > 0 { throw .trailingBytes(count: extra) }
        guard let request = VhostUserRequest(rawValue: header.request) else {
            throw .unknownRequest(header.request)
        }
        let payload = try decodePayload(
            Array(bytes.dropFirst(headerSize)), size: header.size, layout: request.requestLayout,
            request: header.request)
        return VhostUserMessage(rawRequest: header.request, flags: header.flags, payload: payload)
    }

    /// Decodes the reply to `request` (header and payload), as a front-end reads it. With
    /// `acknowledged`, a reply without a layout of its own is a `REPLY_ACK` u64 whose
    /// non-zero status is thrown as ``VhostUserError/refused(request:status:)``.
    public static func decodeReply(
        to request: VhostUserRequest, _ bytes: [UInt8], acknowledged: Bool = false
    ) throws(VhostUserError) -> VhostUserPayload {
        let header = try decodeHeader(bytes)
        let extra = bytes.count - headerSize - Int(header.size)
        if extra > 0 { throw .trailingBytes(count: extra) }
        guard header.request == request.rawValue, header.flags.contains(.reply) else {
            throw .unexpectedReply(expected: request.rawValue, got: header.request, flags: header.flags.rawValue)
        }
        let layout = request.replyLayout ?? .u64
        let payload = try decodePayload(
            Array(bytes.dropFirst(headerSize)), size: header.size, layout: layout, request: header.request)
        if request.replyLayout == nil, acknowledged, case .u64(let status) = payload, status != 0 {
            throw .refused(request: request.rawValue, status: status)
        }
        return payload
    }

    /// Decodes a request a back-end sends on the back-end channel (header and exactly its
    /// payload), as a front-end reads it. `CONFIG_CHANGE_MSG` carries nothing (an empty
    /// payload or a u64 of zero); the others keep their bytes (``VhostUserPayload/opaque(_:)``)
    /// for a front-end that serves them. A reply is refused: this channel carries requests.
    ///
    /// ```swift
    /// let message = try VhostUserMessage.decodeBackendRequest(bytes)
    /// if message.request == VhostUserBackendRequest.configChangeMsg.rawValue { refreshConfig() }
    /// ```
    public static func decodeBackendRequest(_ bytes: [UInt8]) throws(VhostUserError) -> VhostUserMessage {
        let header = try decodeHeader(bytes)
        let extra = bytes.count - headerSize - Int(header.size)
        if extra > 0 { throw .trailingBytes(count: extra) }
        guard let request = VhostUserBackendRequest(rawValue: header.request) else {
            throw .unknownRequest(header.request)
        }
        guard !header.flags.contains(.reply) else {
            throw .unexpectedReply(expected: 0, got: header.request, flags: header.flags.rawValue)
        }
        let layout: VhostUserPayloadLayout = request == .configChangeMsg ? .empty : .opaque
        let payload = try decodePayload(
            Array(bytes.dropFirst(headerSize)), size: header.size, layout: layout, request: header.request)
        return VhostUserMessage(rawRequest: header.request, flags: header.flags, payload: payload)
    }

    /// The front-end's answer to a back-end request that asked for one (`NEED_REPLY`):
    /// a u64 status, 0 for success.
    ///
    /// ```swift
    /// let reply = VhostUserMessage.backendReply(to: message.request, status: 0).encoded()
    /// ```
    public static func backendReply(to request: UInt32, status: UInt64) -> VhostUserMessage {
        VhostUserMessage(rawRequest: request, flags: .reply, payload: .u64(status))
    }

    /// Decodes a payload of `layout` from exactly `size` of `body`'s bytes.
    public static func decodePayload(
        _ body: [UInt8], size: UInt32, layout: VhostUserPayloadLayout, request: UInt32
    ) throws(VhostUserError) -> VhostUserPayload {
        let count = Int(size)
        guard body.count >= count else { throw .truncatedPayload(expected: count, got: body.count) }
        let bytes = Array(body.prefix(count))
        func need(_ expected: Int) throws(VhostUserError) {
            if count != expected { throw .sizeMismatch(request: request, size: size) }
        }
        switch layout {
        case .empty:
            // Some peers send a u64 of zero with requests that carry nothing; accept and drop it.
            guard count == 0 || count == 8 else { throw .sizeMismatch(request: request, size: size) }
            return .empty
        case .u64:
            try need(8)
            return .u64(bytes.readLE64(at: 0))
        case .vringState:
            try need(8)
            return .vringState(VringState(index: bytes.readLE32(at: 0), num: bytes.readLE32(at: 4)))
        case .vringAddress:
            try need(40)
            return .vringAddress(
                VringAddress(
                    index: bytes.readLE32(at: 0), flags: bytes.readLE32(at: 4),
                    descriptorTable: bytes.readLE64(at: 8), usedRing: bytes.readLE64(at: 16),
                    availableRing: bytes.readLE64(at: 24), log: bytes.readLE64(at: 32)))
        case .memoryTable:
            guard count >= 8 else { throw .sizeMismatch(request: request, size: size) }
            let regions = bytes.readLE32(at: 0)
            guard regions <= maximumRegions else { throw .badRegionCount(regions) }
            // The table's size must hold exactly its regions.
            guard count == 8 + Int(regions) * 32 else { throw .badRegionCount(regions) }
            var table: [VhostUserMemoryRegion] = []
            for index in 0..<Int(regions) { table.append(bytes.readRegion(at: 8 + index * 32)) }
            return .memoryTable(table)
        case .memoryRegion:
            try need(40)
            return .memoryRegion(bytes.readRegion(at: 8))
        case .config:
            guard count >= 12 else { throw .sizeMismatch(request: request, size: size) }
            let windowSize = bytes.readLE32(at: 4)
            guard windowSize <= maximumConfigSize, count == 12 + Int(windowSize) else {
                throw .badConfigSize(windowSize)
            }
            return .config(
                VhostUserConfig(
                    offset: bytes.readLE32(at: 0), flags: bytes.readLE32(at: 8), bytes: Array(bytes[12...])))
        case .opaque:
            return .opaque(bytes)
        }
    }
}

/// `SET_VRING_KICK`/`CALL`/`ERR` payload: the ring index in bits 0-7 and, in bit 8, "no
/// descriptor follows" (polling, or no notification).
public enum VringDescriptorPayload {
    /// Bit 8: no file descriptor accompanies the message.
    public static let invalidDescriptor: UInt64 = 1 << 8

    /// The u64 for ring `index`, with or without a descriptor.
    public static func encode(index: UInt8, hasDescriptor: Bool) -> UInt64 {
        UInt64(index) | (hasDescriptor ? 0 : invalidDescriptor)
    }

    /// `(index, hasDescriptor)`, or nil when bits other than 0-8 are set.
    public static func decode(_ value: UInt64) -> (index: UInt8, hasDescriptor: Bool)? {
        guard value & ~(0xff | invalidDescriptor) == 0 else { return nil }
        return (UInt8(value & 0xff), value & invalidDescriptor == 0)
    }
}

extension [UInt8] {
    mutating func appendLE(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
    mutating func appendLE(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
    mutating func appendRegion(_ region: VhostUserMemoryRegion) {
        appendLE(region.guestAddress)
        appendLE(region.size)
        appendLE(region.userAddress)
        appendLE(region.mmapOffset)
    }
    func readLE32(at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(self[offset + index]) << UInt32(index * 8) }
        return value
    }
    func readLE64(at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(self[offset + index]) << UInt64(index * 8) }
        return value
    }
    func readRegion(at offset: Int) -> VhostUserMemoryRegion {
        VhostUserMemoryRegion(
            guestAddress: readLE64(at: offset), size: readLE64(at: offset + 8), userAddress: readLE64(at: offset + 16),
            mmapOffset: readLE64(at: offset + 24))
    }
}
