// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMSysUtil

/// A 48-bit Ethernet address, as virtio-net reports it in configuration space.
///
/// ```swift
/// let mac = MacAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)
/// print(mac)                                   // 52:54:00:12:34:56
/// let parsed = MacAddress("52:54:00:12:34:56")  // the same address
/// let fresh = try MacAddress.random()           // locally administered, unicast
/// ```
public struct MacAddress: Sendable, Hashable, CustomStringConvertible {
    /// The six bytes, in transmission order.
    public let bytes: [UInt8]

    /// The address `a:b:c:d:e:f`.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8) {
        bytes = [a, b, c, d, e, f]
    }

    /// The address made of `bytes`, or nil unless there are exactly six.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// Parses six colon-separated hexadecimal bytes (`52:54:00:12:34:56`).
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...2).contains(part.count), let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    /// A random unicast address with the locally administered bit set (so it cannot
    /// clash with a vendor-assigned one).
    public static func random() throws(SystemError) -> MacAddress {
        var bytes = try HostRandom.bytes(6)
        bytes[0] = bytes[0] & 0xfe | 0x02
        return MacAddress(bytes: bytes)!
    }

    /// Whether the group bit is set (multicast or broadcast).
    public var isMulticast: Bool { bytes[0] & 1 != 0 }

    /// `xx:xx:xx:xx:xx:xx`, lower-case.
    public var description: String {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: ":")
    }
}
