// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import VMMSysUtil

/// Why opening or configuring a tap device failed. Every case names the interface,
/// and system failures name the call, so one log line says what went wrong.
///
/// ```swift
/// do {
///     _ = try Tap(name: "vmtap0")
/// } catch {
///     print(error)  // "tap vmtap0: ioctl(TUNSETIFF): Operation not permitted (errno 1)"
/// }
/// ```
public enum TapError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name cannot be an interface name: empty, 16 bytes or longer, or holding a NUL byte.
    case invalidName(String)
    /// A system call on the tap failed; `interface` is its name, or `(kernel-chosen)` before it has one.
    case system(interface: String, SystemError)

    /// One line for logs.
    public var description: String {
        switch self {
        case .invalidName(let name): "tap \(name): not a valid interface name (1 to 15 bytes, no NUL)"
        case .system(let interface, let error): "tap \(interface): \(error)"
        }
    }
}

/// What the kernel may hand the device unfinished (`TUN_F_*`, set with `TUNSETOFFLOAD`):
/// frames whose checksum still has to be computed and TCP segments larger than the MTU.
/// The device sets these from the offloads the guest driver accepted, so the kernel
/// finishes whatever the guest cannot. The segmentation offloads need ``checksum``.
///
/// ```swift
/// try tap.setOffloads([.checksum, .tcp4, .tcp6])
/// ```
public struct TapOffloads: OptionSet, Sendable, Hashable {
    /// The `TUN_F_*` bits.
    public let rawValue: UInt32
    /// Wraps `TUN_F_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `TUN_F_CSUM`: partially checksummed frames (the guest completes them). The others need it.
    public static let checksum = TapOffloads(rawValue: 0x01)
    /// `TUN_F_TSO4`: TCP over IPv4 segmentation.
    public static let tcp4 = TapOffloads(rawValue: 0x02)
    /// `TUN_F_TSO6`: TCP over IPv6 segmentation.
    public static let tcp6 = TapOffloads(rawValue: 0x04)
    /// `TUN_F_TSO_ECN`: TCP segmentation with the ECN bit.
    public static let tcpECN = TapOffloads(rawValue: 0x08)
}

/// The interface flags of a tun/tap file (`IFF_*` from `<linux/if_tun.h>`), as `TUNGETIFF` reports them.
///
/// ```swift
/// #expect(try tap.interfaceFlags().isSuperset(of: [.tap, .noPacketInformation, .virtioHeader]))
/// ```
public struct TapInterfaceFlags: OptionSet, Sendable, Hashable {
    /// The `IFF_*` bits.
    public let rawValue: UInt16
    /// Wraps `IFF_*` bits.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `IFF_TAP`: Ethernet frames (not IP packets).
    public static let tap = TapInterfaceFlags(rawValue: 0x0002)
    /// `IFF_NO_PI`: no 4-byte packet information prefix.
    public static let noPacketInformation = TapInterfaceFlags(rawValue: 0x1000)
    /// `IFF_VNET_HDR`: every frame starts with a virtio-net header.
    public static let virtioHeader = TapInterfaceFlags(rawValue: 0x4000)
    /// `IFF_MULTI_QUEUE`: one file per queue.
    public static let multiQueue = TapInterfaceFlags(rawValue: 0x0100)
}

/// A Linux tap interface opened through `/dev/net/tun`, set up the way a virtio-net
/// device needs it: Ethernet frames without packet information, each preceded by the
/// 12-byte little-endian virtio-net header (`virtio_net_hdr_v1`), non-blocking.
///
/// The interface exists while this value lives (unless it was made persistent by other
/// means). Bringing it up and giving it addresses is the host administrator's business
/// (`ip link set <name> up`).
///
/// ```swift
/// let tap = try Tap(name: "vmtap0")      // or Tap() for a kernel-chosen "tapN"
/// let net = try NetDevice<GuestMemoryMap<MmapRegion>>(tap: tap, mac: MacAddress(0x52, 0x54, 0, 0x12, 0x34, 0x56))
/// print(tap.name)
/// ```
public final class Tap: Sendable {
    /// The clone device.
    public static var devicePath: String { "/dev/net/tun" }
    /// Bytes of the virtio-net header before each frame (`TUNSETVNETHDRSZ`).
    public static var headerSize: Int { 12 }
    /// Longest interface name in bytes (`IFNAMSIZ` less the terminating NUL).
    public static var maximumNameLength: Int { 15 }

    /// The interface name the kernel gave (the one asked for, or `tapN`).
    public let name: String
    /// The tap file, non-blocking.
    public let descriptor: FileDescriptor

    /// Opens `/dev/net/tun` and attaches to (or creates) the tap interface `name`; with
    /// `nil` the kernel picks a free `tapN`. Sets the 12-byte little-endian virtio-net header.
    /// Needs `CAP_NET_ADMIN` unless the interface exists and belongs to the caller.
    public init(name: String? = nil) throws(TapError) {
        let requested = name ?? ""
        if let name {
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, bytes.count <= Self.maximumNameLength, !bytes.contains(0) else {
                throw .invalidName(name)
            }
        }
        let label = name ?? "(kernel-chosen)"
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(Self.devicePath, flags: O_RDWR | O_NONBLOCK)
        } catch {
            throw .system(interface: label, error)
        }
        var request = InterfaceRequest(name: requested)
        request.flags = (TapInterfaceFlags.tap.union([.noPacketInformation, .virtioHeader])).rawValue
        try Self.control(file.rawValue, TunIoctl.setInterface, "TUNSETIFF", label, &request)
        let actual = request.name
        // Little-endian headers as virtio 1.x wants, whatever the host's byte order.
        var littleEndian: Int32 = 1
        try Self.control(file.rawValue, TunIoctl.setHeaderLittleEndian, "TUNSETVNETLE", actual, &littleEndian)
        var size = Int32(Self.headerSize)
        try Self.control(file.rawValue, TunIoctl.setHeaderSize, "TUNSETVNETHDRSZ", actual, &size)
        self.name = actual
        descriptor = file
    }

    /// Tells the kernel which unfinished frames the reader accepts (`TUNSETOFFLOAD`).
    /// Segmentation offloads need ``TapOffloads/checksum``: without it the kernel refuses
    /// them (`EINVAL`).
    public func setOffloads(_ offloads: TapOffloads) throws(TapError) {
        // TUNSETOFFLOAD takes its argument by value, not through a pointer.
        let result = ioctl(descriptor.rawValue, TunIoctl.setOffload, Int32(bitPattern: offloads.rawValue))
        if result < 0 { throw .system(interface: name, .current("ioctl(TUNSETOFFLOAD)")) }
    }

    /// The file's interface flags, read back with `TUNGETIFF`.
    public func interfaceFlags() throws(TapError) -> TapInterfaceFlags {
        var request = InterfaceRequest(name: "")
        try Self.control(descriptor.rawValue, TunIoctl.getInterface, "TUNGETIFF", name, &request)
        return TapInterfaceFlags(rawValue: request.flags)
    }

    /// The virtio-net header size in effect, read back with `TUNGETVNETHDRSZ`.
    public func headerSizeInEffect() throws(TapError) -> Int {
        var size: Int32 = 0
        try Self.control(descriptor.rawValue, TunIoctl.getHeaderSize, "TUNGETVNETHDRSZ", name, &size)
        return Int(size)
    }

    /// The tun/tap features the running kernel supports (`TUNGETFEATURES`).
    public func supportedFlags() throws(TapError) -> TapInterfaceFlags {
        var features: UInt32 = 0
        try Self.control(descriptor.rawValue, TunIoctl.getFeatures, "TUNGETFEATURES", name, &features)
        return TapInterfaceFlags(rawValue: UInt16(truncatingIfNeeded: features))
    }

    /// An ioctl whose argument is a pointer to `value`.
    private static func control<T>(
        _ fd: Int32, _ request: UInt, _ call: String, _ interface: String, _ value: inout T
    ) throws(TapError) {
        // SAFETY: `value` is a plain struct or integer of the size the request encodes
        // (ifreq: 40 bytes, int: 4), so the kernel reads and writes inside it.
        let result = unsafe withUnsafeMutableBytes(of: &value) { raw in unsafe ioctl(fd, request, raw.baseAddress!) }
        if result < 0 { throw .system(interface: interface, .current("ioctl(\(call))")) }
    }
}

/// Request numbers of the tun/tap ioctls (`<linux/if_tun.h>`).
///
/// `_IOC(dir, type, nr, size)` packs `dir << 30 | size << 16 | type << 8 | nr`, with
/// `_IOC_WRITE` = 1 and `_IOC_READ` = 2 in the generic layout x86, arm64 and riscv64 use
/// (powerpc, mips and sparc differ). The type is `'T'` (0x54). For example
/// `TUNSETIFF = _IOW('T', 202, int) = 1 << 30 | 4 << 16 | 0x54 << 8 | 202 = 0x400454ca`.
enum TunIoctl {
    static func write(_ number: UInt, size: UInt) -> UInt { 1 << 30 | size << 16 | 0x54 << 8 | number }
    static func read(_ number: UInt, size: UInt) -> UInt { 2 << 30 | size << 16 | 0x54 << 8 | number }

    /// `_IOW('T', 202, int)`; the argument is really a `struct ifreq` (historic).
    static let setInterface = write(202, size: 4)
    /// `_IOR('T', 207, unsigned int)`.
    static let getFeatures = read(207, size: 4)
    /// `_IOW('T', 208, unsigned int)`.
    static let setOffload = write(208, size: 4)
    /// `_IOR('T', 210, unsigned int)`; fills a `struct ifreq`.
    static let getInterface = read(210, size: 4)
    /// `_IOR('T', 215, int)`.
    static let getHeaderSize = read(215, size: 4)
    /// `_IOW('T', 216, int)`.
    static let setHeaderSize = write(216, size: 4)
    /// `_IOW('T', 220, int)`.
    static let setHeaderLittleEndian = write(220, size: 4)
}

/// `struct ifreq` as 40 bytes: `ifr_name[16]`, then the union whose first member the tun
/// ioctls use, `short ifr_flags` at offset 16. Five words keep it 8-byte aligned.
struct InterfaceRequest {
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)

    /// A request naming `name` (truncated to 15 bytes; callers check the length first).
    init(name: String) {
        // SAFETY: at most 15 bytes go into the 40-byte buffer, leaving ifr_name NUL-terminated.
        unsafe withUnsafeMutableBytes(of: &words) { raw in
            for (index, byte) in name.utf8.prefix(Tap.maximumNameLength).enumerated() { unsafe raw[index] = byte }
        }
    }

    /// `ifr_name` up to its NUL.
    var name: String {
        // SAFETY: reads only the first 16 of the 40 bytes.
        unsafe withUnsafeBytes(of: words) { raw in
            unsafe String(decoding: raw.prefix(16).prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// `ifr_flags`, in host byte order.
    var flags: UInt16 {
        get {
            // SAFETY: bytes 16 and 17 lie inside the 8-byte-aligned 40-byte buffer.
            unsafe withUnsafeBytes(of: words) { unsafe $0.load(fromByteOffset: 16, as: UInt16.self) }
        }
        set {
            // SAFETY: bytes 16 and 17 lie inside the 40-byte buffer.
            unsafe withUnsafeMutableBytes(of: &words) {
                unsafe $0.storeBytes(of: newValue, toByteOffset: 16, as: UInt16.self)
            }
        }
    }
}
