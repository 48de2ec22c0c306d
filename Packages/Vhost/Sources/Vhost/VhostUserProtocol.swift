// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Front-end requests of the vhost-user protocol (the spec's "Front-end message types"),
/// by their wire numbers.
public enum VhostUserRequest: UInt32, Sendable, CaseIterable {
    case getFeatures = 1
    case setFeatures = 2
    case setOwner = 3
    case resetOwner = 4
    case setMemTable = 5
    case setLogBase = 6
    case setLogFd = 7
    case setVringNum = 8
    case setVringAddr = 9
    case setVringBase = 10
    case getVringBase = 11
    case setVringKick = 12
    case setVringCall = 13
    case setVringErr = 14
    case getProtocolFeatures = 15
    case setProtocolFeatures = 16
    case getQueueNum = 17
    case setVringEnable = 18
    case sendRarp = 19
    case netSetMtu = 20
    case setBackendReqFd = 21
    case iotlbMsg = 22
    case setVringEndian = 23
    case getConfig = 24
    case setConfig = 25
    case createCryptoSession = 26
    case closeCryptoSession = 27
    case postcopyAdvise = 28
    case postcopyListen = 29
    case postcopyEnd = 30
    case getInflightFd = 31
    case setInflightFd = 32
    case gpuSetSocket = 33
    case resetDevice = 34
    case vringKick = 35
    case getMaxMemSlots = 36
    case addMemReg = 37
    case remMemReg = 38
    case setStatus = 39
    case getStatus = 40
    case getSharedObject = 41
    case setDeviceStateFd = 42
    case checkDeviceState = 43

    /// The payload layout this request carries from the front-end.
    public var requestLayout: VhostUserPayloadLayout {
        switch self {
        // The descriptor-only requests (SET_LOG_FD, SET_BACKEND_REQ_FD, GPU_SET_SOCKET) carry
        // nothing but the descriptor; `.empty` also accepts the zero u64 some peers send.
        case .getFeatures, .setOwner, .resetOwner, .getProtocolFeatures, .getQueueNum, .getMaxMemSlots,
            .getStatus, .resetDevice, .postcopyAdvise, .postcopyListen, .postcopyEnd, .setLogFd, .setBackendReqFd,
            .gpuSetSocket:
            return .empty
        case .setFeatures, .setProtocolFeatures, .sendRarp, .netSetMtu, .setVringKick, .setVringCall,
            .setVringErr, .setStatus:
            return .u64
        case .setVringNum, .setVringBase, .getVringBase, .setVringEnable, .setVringEndian, .vringKick:
            return .vringState
        case .setVringAddr: return .vringAddress
        case .setMemTable: return .memoryTable
        case .addMemReg, .remMemReg: return .memoryRegion
        case .getConfig, .setConfig: return .config
        // SET_LOG_BASE: the spec's table says u64, QEMU sends {u64 mmap_size, u64 mmap_offset}.
        case .setLogBase, .iotlbMsg, .createCryptoSession, .closeCryptoSession, .getInflightFd, .setInflightFd,
            .getSharedObject, .setDeviceStateFd, .checkDeviceState:
            return .opaque
        }
    }

    /// The payload layout of this request's reply, or nil when the request has no reply of
    /// its own (it may still get a `REPLY_ACK` u64 when `needReply` was set).
    public var replyLayout: VhostUserPayloadLayout? {
        switch self {
        case .getFeatures, .getProtocolFeatures, .getQueueNum, .getMaxMemSlots, .getStatus, .setLogBase,
            .postcopyAdvise, .postcopyEnd:
            return .u64
        case .getVringBase: return .vringState
        case .getConfig: return .config
        case .getInflightFd, .createCryptoSession, .getSharedObject, .setDeviceStateFd, .checkDeviceState,
            .iotlbMsg:
            return .opaque
        default: return nil
        }
    }
}

/// Requests a back-end sends on the back-end channel (`SET_BACKEND_REQ_FD`).
public enum VhostUserBackendRequest: UInt32, Sendable, CaseIterable {
    case iotlbMsg = 1
    case configChangeMsg = 2
    case vringHostNotifierMsg = 3
    case sharedObjectAdd = 6
    case sharedObjectRemove = 7
    case sharedObjectLookup = 8
}

/// How a message's payload is laid out on the wire.
public enum VhostUserPayloadLayout: Sendable, Equatable {
    /// No payload (size 0).
    case empty
    /// One little-endian `u64`.
    case u64
    /// `u32 index, u32 num`.
    case vringState
    /// `u32 index, u32 flags, u64 descriptor, u64 used, u64 available, u64 log`.
    case vringAddress
    /// `u32 count, u32 padding`, then `count` regions of 32 bytes.
    case memoryTable
    /// `u64 padding`, then one 32-byte region.
    case memoryRegion
    /// `u32 offset, u32 size, u32 flags`, then `size` bytes.
    case config
    /// A layout this codec carries as raw bytes (bounded by ``VhostUserMessage/maximumPayloadSize``).
    case opaque
}

/// The header's flags word.
public struct VhostUserFlags: OptionSet, Sendable, Equatable {
    /// The bits as on the wire.
    public var rawValue: UInt32
    /// Wraps wire bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Protocol version 1, the only one (bits 0-1).
    public static let version1 = VhostUserFlags(rawValue: 0x1)
    /// This message is a reply.
    public static let reply = VhostUserFlags(rawValue: 0x4)
    /// The sender wants a `REPLY_ACK` (with `VhostUserProtocolFeatures.replyAck`).
    public static let needReply = VhostUserFlags(rawValue: 0x8)
    /// Bits 0-1: the version field.
    public static let versionMask: UInt32 = 0x3
}

/// Virtio feature bits with a vhost-user meaning.
public enum VhostUserFeatures {
    /// `VHOST_USER_F_PROTOCOL_FEATURES` (bit 30): the back-end has protocol features; rings
    /// start disabled and need `SET_VRING_ENABLE`.
    public static let protocolFeatures: UInt64 = 1 << 30
}

/// `VHOST_USER_PROTOCOL_F_*` bits (`GET_PROTOCOL_FEATURES`).
public struct VhostUserProtocolFeatures: OptionSet, Sendable, Equatable {
    /// The bits as on the wire.
    public var rawValue: UInt64
    /// Wraps wire bits.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// `VHOST_USER_PROTOCOL_F_MQ` (bit 0).
    public static let multiQueue = Self(rawValue: 1 << 0)
    /// `VHOST_USER_PROTOCOL_F_LOG_SHMFD` (bit 1).
    public static let logSharedMemory = Self(rawValue: 1 << 1)
    /// `VHOST_USER_PROTOCOL_F_RARP` (bit 2).
    public static let rarp = Self(rawValue: 1 << 2)
    /// `VHOST_USER_PROTOCOL_F_REPLY_ACK` (bit 3).
    public static let replyAck = Self(rawValue: 1 << 3)
    /// `VHOST_USER_PROTOCOL_F_MTU` (bit 4).
    public static let mtu = Self(rawValue: 1 << 4)
    /// `VHOST_USER_PROTOCOL_F_BACKEND_REQ` (bit 5).
    public static let backendRequests = Self(rawValue: 1 << 5)
    /// `VHOST_USER_PROTOCOL_F_CROSS_ENDIAN` (bit 6).
    public static let crossEndian = Self(rawValue: 1 << 6)
    /// `VHOST_USER_PROTOCOL_F_CRYPTO_SESSION` (bit 7).
    public static let cryptoSession = Self(rawValue: 1 << 7)
    /// `VHOST_USER_PROTOCOL_F_PAGEFAULT` (bit 8).
    public static let pageFault = Self(rawValue: 1 << 8)
    /// `VHOST_USER_PROTOCOL_F_CONFIG` (bit 9).
    public static let config = Self(rawValue: 1 << 9)
    /// `VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD` (bit 10).
    public static let backendSendFd = Self(rawValue: 1 << 10)
    /// `VHOST_USER_PROTOCOL_F_HOST_NOTIFIER` (bit 11).
    public static let hostNotifier = Self(rawValue: 1 << 11)
    /// `VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD` (bit 12).
    public static let inflightSharedMemory = Self(rawValue: 1 << 12)
    /// `VHOST_USER_PROTOCOL_F_RESET_DEVICE` (bit 13).
    public static let resetDevice = Self(rawValue: 1 << 13)
    /// `VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS` (bit 14).
    public static let inbandNotifications = Self(rawValue: 1 << 14)
    /// `VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS` (bit 15).
    public static let configureMemorySlots = Self(rawValue: 1 << 15)
    /// `VHOST_USER_PROTOCOL_F_STATUS` (bit 16).
    public static let status = Self(rawValue: 1 << 16)
    /// `VHOST_USER_PROTOCOL_F_XEN_MMAP` (bit 17).
    public static let xenMmap = Self(rawValue: 1 << 17)
    /// `VHOST_USER_PROTOCOL_F_SHARED_OBJECT` (bit 18).
    public static let sharedObject = Self(rawValue: 1 << 18)
    /// `VHOST_USER_PROTOCOL_F_DEVICE_STATE` (bit 19).
    public static let deviceState = Self(rawValue: 1 << 19)
}
