// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import Vhost

/// Little-endian bytes of `value`, written without the codec.
func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    var bytes: [UInt8] = []
    for index in 0..<(T.bitWidth / 8) { bytes.append(UInt8(truncatingIfNeeded: value >> (index * 8))) }
    return bytes
}

/// A 12-byte header: request, flags (version 1 unless told), size.
func header(_ request: UInt32, flags: UInt32 = 1, size: UInt32) -> [UInt8] {
    littleEndian(request) + littleEndian(flags) + littleEndian(size)
}

/// A region whose four fields differ from each other and from every other `seed`'s.
func region(_ seed: UInt64) -> VhostUserMemoryRegion {
    VhostUserMemoryRegion(
        guestAddress: 0x1_0000_0000 &* seed &+ 0x1000, size: 0x20_0000 &+ seed,
        userAddress: 0x7f00_0000_0000 &+ seed &* 0x100_0000, mmapOffset: seed &* 0x1000 &+ 7)
}

/// The wire bytes of `region`: four little-endian u64s.
func regionBytes(_ region: VhostUserMemoryRegion) -> [UInt8] {
    littleEndian(region.guestAddress) + littleEndian(region.size) + littleEndian(region.userAddress)
        + littleEndian(region.mmapOffset)
}

/// A payload of `layout` with distinct, non-zero field values.
func samplePayload(_ layout: VhostUserPayloadLayout) -> VhostUserPayload {
    switch layout {
    case .empty: return .empty
    case .u64: return .u64(0x0123_4567_89ab_cdef)
    case .vringState: return .vringState(VringState(index: 3, num: 0x8000))
    case .vringAddress:
        return .vringAddress(
            VringAddress(
                index: 2, flags: 1, descriptorTable: 0x7f00_0000_1000, usedRing: 0x7f00_0000_3000,
                availableRing: 0x7f00_0000_2000, log: 0x4000))
    case .memoryTable: return .memoryTable([region(1), region(2), region(3)])
    case .memoryRegion: return .memoryRegion(region(9))
    case .config: return .config(VhostUserConfig(offset: 8, flags: 1, bytes: [1, 2, 3, 4, 5, 6]))
    case .opaque: return .opaque([0xde, 0xad, 0xbe, 0xef, 0, 1])
    }
}

/// Decodes bytes the case expects to be a valid request.
func decoded(_ bytes: [UInt8], line: UInt = #line) throws(TestFailure) -> VhostUserMessage {
    try expectNoError("decode", line: line) { () throws(VhostUserError) in try VhostUserMessage.decode(bytes) }
}

/// Encodes `message`, checks the header's size word, decodes and compares.
func expectRoundTrip(_ message: VhostUserMessage, payloadSize: Int, line: UInt = #line) throws(TestFailure) {
    let bytes = message.encoded()
    try expectEqual(bytes.count, VhostUserMessage.headerSize + payloadSize, "encoded length", line: line)
    try expectEqual(Array(bytes[8..<12]), littleEndian(UInt32(payloadSize)), "header size word", line: line)
    try expectEqual(try decoded(bytes, line: line), message, "decode(encode(m)) == m", line: line)
}

/// Encode then decode, one case per payload layout and shape.
let roundTripCases: [PortableTestCase] = [
    PortableTestCase("VhostUserMessage", "empty payload round trips with size 0") { () throws(TestFailure) in
        try expectRoundTrip(VhostUserMessage(.setOwner), payloadSize: 0)
        try expectRoundTrip(VhostUserMessage(.getFeatures), payloadSize: 0)
    },
    PortableTestCase("VhostUserMessage", "u64 payload round trips") { () throws(TestFailure) in
        let features = VhostUserFeatures.protocolFeatures | 1 << 32 | 0xff
        try expectRoundTrip(VhostUserMessage(.setFeatures, payload: .u64(features)), payloadSize: 8)
        try expectRoundTrip(VhostUserMessage(.setStatus, payload: .u64(.max)), payloadSize: 8)
        try expectRoundTrip(VhostUserMessage(.setVringCall, payload: .u64(0)), payloadSize: 8)
    },
    PortableTestCase("VhostUserMessage", "vring state payload round trips") { () throws(TestFailure) in
        let state = VringState(index: 0xffff_fffe, num: 0x1234_5678)
        try expectRoundTrip(VhostUserMessage(.setVringBase, payload: .vringState(state)), payloadSize: 8)
        try expectRoundTrip(
            VhostUserMessage(.setVringEnable, payload: .vringState(VringState(index: 1, num: 1))), payloadSize: 8)
    },
    PortableTestCase("VhostUserMessage", "vring address payload keeps every field in place") {
        () throws(TestFailure) in
        let address = VringAddress(
            index: 5, flags: 1, descriptorTable: 0x1111_2222_3333_4444, usedRing: 0x5555_6666_7777_8888,
            availableRing: 0x9999_aaaa_bbbb_cccc, log: 0xdddd_eeee_ffff_0001)
        let message = VhostUserMessage(.setVringAddr, payload: .vringAddress(address))
        try expectRoundTrip(message, payloadSize: 40)
        let body = Array(message.encoded().dropFirst(12))
        let expected =
            littleEndian(UInt32(5)) + littleEndian(UInt32(1)) + littleEndian(address.descriptorTable)
            + littleEndian(address.usedRing) + littleEndian(address.availableRing) + littleEndian(address.log)
        try expectEqual(body, expected, "index, flags, descriptor, used, available, log")
    },
    PortableTestCase("VhostUserMessage", "memory table with no regions is 8 bytes") { () throws(TestFailure) in
        let message = VhostUserMessage(.setMemTable, payload: .memoryTable([]))
        try expectRoundTrip(message, payloadSize: 8)
        try expectEqual(Array(message.encoded().dropFirst(12)), [0, 0, 0, 0, 0, 0, 0, 0])
    },
    PortableTestCase("VhostUserMessage", "memory table with one region") { () throws(TestFailure) in
        let message = VhostUserMessage(.setMemTable, payload: .memoryTable([region(1)]))
        try expectRoundTrip(message, payloadSize: 40)
        try expectEqual(
            Array(message.encoded().dropFirst(12)), [1, 0, 0, 0, 0, 0, 0, 0] + regionBytes(region(1)),
            "count, padding, then guest address, size, user address, mmap offset")
    },
    PortableTestCase("VhostUserMessage", "memory table with the maximum 8 regions") { () throws(TestFailure) in
        var regions: [VhostUserMemoryRegion] = []
        for seed in 1...UInt64(VhostUserMessage.maximumRegions) { regions.append(region(seed)) }
        try expectRoundTrip(VhostUserMessage(.setMemTable, payload: .memoryTable(regions)), payloadSize: 8 + 8 * 32)
    },
    PortableTestCase("VhostUserMessage", "memory region payload has 8 bytes of padding first") {
        () throws(TestFailure) in
        let message = VhostUserMessage(.addMemReg, payload: .memoryRegion(region(4)))
        try expectRoundTrip(message, payloadSize: 40)
        try expectRoundTrip(VhostUserMessage(.remMemReg, payload: .memoryRegion(region(5))), payloadSize: 40)
        try expectEqual(Array(message.encoded().dropFirst(12)), [0, 0, 0, 0, 0, 0, 0, 0] + regionBytes(region(4)))
    },
    PortableTestCase("VhostUserMessage", "config with an empty window") { () throws(TestFailure) in
        let message = VhostUserMessage(.getConfig, payload: .config(VhostUserConfig(offset: 0x20, bytes: [])))
        try expectRoundTrip(message, payloadSize: 12)
        try expectEqual(Array(message.encoded().dropFirst(12)), [0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    },
    PortableTestCase("VhostUserMessage", "config with the maximum 256-byte window") { () throws(TestFailure) in
        var bytes: [UInt8] = []
        for value in 0..<256 { bytes.append(UInt8(truncatingIfNeeded: value &* 7)) }
        let config = VhostUserConfig(offset: 4, flags: 1, bytes: bytes)
        let message = VhostUserMessage(.setConfig, payload: .config(config))
        try expectRoundTrip(message, payloadSize: 12 + 256)
        let body = Array(message.encoded().dropFirst(12))
        try expectEqual(Array(body[0..<12]), [4, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0], "offset, size, flags")
        try expectEqual(Array(body[12...]), bytes)
    },
    PortableTestCase("VhostUserMessage", "opaque payloads are carried as raw bytes") { () throws(TestFailure) in
        try expectRoundTrip(VhostUserMessage(.iotlbMsg, payload: .opaque([1, 2, 3])), payloadSize: 3)
        try expectRoundTrip(VhostUserMessage(.checkDeviceState, payload: .opaque([])), payloadSize: 0)
        let largest = [UInt8](repeating: 0xa5, count: Int(VhostUserMessage.maximumPayloadSize))
        try expectRoundTrip(VhostUserMessage(.setInflightFd, payload: .opaque(largest)), payloadSize: 4096)
    },
    PortableTestCase("VhostUserMessage", "every request round trips with a payload of its layout") {
        () throws(TestFailure) in
        for request in VhostUserRequest.allCases {
            let payload = samplePayload(request.requestLayout)
            try expectEqual(payload.layout, request.requestLayout, "the sample has the request's layout")
            let message = VhostUserMessage(request, flags: .needReply, payload: payload)
            try expectEqual(try decoded(message.encoded()), message)
        }
    },
    PortableTestCase("VhostUserMessage", "flags always carry version 1 and keep need-reply") {
        () throws(TestFailure) in
        try expectEqual(VhostUserMessage(.setOwner).flags.rawValue, 0x1)
        let message = VhostUserMessage(.setFeatures, flags: .needReply, payload: .u64(1))
        try expectEqual(message.flags.rawValue, 0x9)
        try expectEqual(try decoded(message.encoded()).flags, [.version1, .needReply])
        try expectEqual(VhostUserMessage(rawRequest: 2, flags: .reply).flags.rawValue, 0x5)
    },
]

/// Exact bytes on the wire, checked against hand-written arrays.
let wireCases: [PortableTestCase] = [
    PortableTestCase("VhostUserWire", "SET_VRING_NUM index 1 num 256") { () throws(TestFailure) in
        let message = VhostUserMessage(.setVringNum, payload: .vringState(VringState(index: 1, num: 256)))
        let expected: [UInt8] = [8, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0]
        try expectEqual(message.encoded(), expected)
        try expectEqual(try decoded(expected), message)
    },
    PortableTestCase("VhostUserWire", "SET_FEATURES with need-reply, little-endian u64") { () throws(TestFailure) in
        let message = VhostUserMessage(.setFeatures, flags: .needReply, payload: .u64(0x0102_0304_0506_0708))
        let expected: [UInt8] = [2, 0, 0, 0, 9, 0, 0, 0, 8, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]
        try expectEqual(message.encoded(), expected)
    },
    PortableTestCase("VhostUserWire", "decodeHeader reads request, flags and size") { () throws(TestFailure) in
        let bytes = header(0x1234, flags: 0xd, size: 4096)
        let result = try expectNoError { () throws(VhostUserError) in try VhostUserMessage.decodeHeader(bytes) }
        try expectEqual(result.request, 0x1234, "decodeHeader does not check the request number")
        try expectEqual(result.flags, [.version1, .reply, .needReply])
        try expectEqual(result.size, 4096, "the largest payload is accepted")
    },
    PortableTestCase("VhostUserWire", "decodePayload reads exactly size bytes of a longer body") {
        () throws(TestFailure) in
        let body: [UInt8] = [1, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff]
        let payload = try expectNoError { () throws(VhostUserError) in
            try VhostUserMessage.decodePayload(body, size: 8, layout: .vringState, request: 8)
        }
        try expectEqual(payload, .vringState(VringState(index: 1, num: 2)))
        let opaque = try expectNoError { () throws(VhostUserError) in
            try VhostUserMessage.decodePayload(body, size: 3, layout: .opaque, request: 22)
        }
        try expectEqual(opaque, .opaque([1, 0, 0]))
    },
    PortableTestCase("VhostUserWire", "memory table padding is ignored and encoded as zero") {
        () throws(TestFailure) in
        let bytes = header(5, size: 40) + [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff] + regionBytes(region(6))
        let message = try decoded(bytes)
        try expectEqual(message.payload, .memoryTable([region(6)]))
        try expectEqual(Array(message.encoded()[16..<20]), [0, 0, 0, 0])
    },
    PortableTestCase("VhostUserWire", "an empty request may carry a u64 of zero, dropped on decode") {
        () throws(TestFailure) in
        let message = try decoded(header(3, size: 8) + [0, 0, 0, 0, 0, 0, 0, 0])
        try expectEqual(message, VhostUserMessage(.setOwner))
        try expectEqual(message.encoded(), header(3, size: 0), "re-encoded without the u64")
        let payload = try expectNoError { () throws(VhostUserError) in
            try VhostUserMessage.decodePayload([0, 0, 0, 0, 0, 0, 0, 0], size: 8, layout: .empty, request: 1)
        }
        try expectEqual(payload, .empty)
    },
]

/// The request table: numbering, layouts and flag constants.
let requestTableCases: [PortableTestCase] = [
    PortableTestCase("VhostUserRequest", "raw values are 1...43 without gaps") { () throws(TestFailure) in
        try expectEqual(VhostUserRequest.allCases.count, 43)
        for (offset, request) in VhostUserRequest.allCases.enumerated() {
            try expectEqual(request.rawValue, UInt32(offset + 1))
            try expectEqual(VhostUserRequest(rawValue: UInt32(offset + 1)), request)
        }
        try expect(VhostUserRequest(rawValue: 0) == nil, "0 is VHOST_USER_NONE, not a request")
        try expect(VhostUserRequest(rawValue: 44) == nil, "44 is past the last request")
    },
    PortableTestCase("VhostUserRequest", "every request has a request layout") { () throws(TestFailure) in
        let layouts: [VhostUserPayloadLayout] = [
            .empty, .u64, .vringState, .vringAddress, .memoryTable, .memoryRegion, .config, .opaque,
        ]
        var used = [Bool](repeating: false, count: layouts.count)
        for request in VhostUserRequest.allCases {
            var found = false
            for (index, layout) in layouts.enumerated() where layout == request.requestLayout {
                found = true
                used[index] = true
            }
            try expect(found, "the layout is one of the eight")
        }
        try expect(!used.contains(false), "every layout is used by some request")
    },
    PortableTestCase("VhostUserRequest", "layouts of the core requests") { () throws(TestFailure) in
        try expectEqual(VhostUserRequest.getFeatures.requestLayout, .empty)
        try expectEqual(VhostUserRequest.setFeatures.requestLayout, .u64)
        try expectEqual(VhostUserRequest.setMemTable.requestLayout, .memoryTable)
        try expectEqual(VhostUserRequest.setVringNum.requestLayout, .vringState)
        try expectEqual(VhostUserRequest.setVringAddr.requestLayout, .vringAddress)
        try expectEqual(VhostUserRequest.setVringKick.requestLayout, .u64)
        try expectEqual(VhostUserRequest.addMemReg.requestLayout, .memoryRegion)
        try expectEqual(VhostUserRequest.setConfig.requestLayout, .config)
        try expect(VhostUserRequest.getFeatures.replyLayout == .u64)
        try expect(VhostUserRequest.getVringBase.replyLayout == .vringState)
        try expect(VhostUserRequest.getConfig.replyLayout == .config)
        try expect(VhostUserRequest.setVringNum.replyLayout == nil, "only a REPLY_ACK")
        try expect(VhostUserRequest.setMemTable.replyLayout == nil, "only a REPLY_ACK")
    },
    PortableTestCase("VhostUserRequest", "flag and feature constants") { () throws(TestFailure) in
        try expectEqual(VhostUserFlags.version1.rawValue, 1)
        try expectEqual(VhostUserFlags.reply.rawValue, 4)
        try expectEqual(VhostUserFlags.needReply.rawValue, 8)
        try expectEqual(VhostUserFlags.versionMask, 3)
        try expectEqual(VhostUserFeatures.protocolFeatures, 0x4000_0000)
        try expectEqual(VhostUserProtocolFeatures.replyAck.rawValue, 8)
        try expectEqual(VhostUserProtocolFeatures.deviceState.rawValue, 1 << 19)
        try expectEqual(VhostUserMessage.headerSize, 12)
    },
]

/// `SET_VRING_KICK`/`CALL`/`ERR` u64s.
let descriptorPayloadCases: [PortableTestCase] = [
    PortableTestCase("VringDescriptorPayload", "encodes the index and the no-descriptor bit") {
        () throws(TestFailure) in
        try expectEqual(VringDescriptorPayload.encode(index: 3, hasDescriptor: true), 3)
        try expectEqual(VringDescriptorPayload.encode(index: 3, hasDescriptor: false), 0x103)
        try expectEqual(VringDescriptorPayload.encode(index: 255, hasDescriptor: false), 0x1ff)
        try expectEqual(VringDescriptorPayload.invalidDescriptor, 0x100)
    },
    PortableTestCase("VringDescriptorPayload", "decode inverts encode for every index") { () throws(TestFailure) in
        for index in UInt8.min...UInt8.max {
            for hasDescriptor in [false, true] {
                let value = VringDescriptorPayload.encode(index: index, hasDescriptor: hasDescriptor)
                guard let back = VringDescriptorPayload.decode(value) else {
                    throw TestFailure("an encoded value decodes", file: #filePath, line: #line)
                }
                try expectEqual(back.index, index)
                try expect(back.hasDescriptor == hasDescriptor)
            }
        }
    },
    PortableTestCase("VringDescriptorPayload", "bits above 8 are rejected") { () throws(TestFailure) in
        for value: UInt64 in [0x200, 0x201, 0x3ff, 1 << 32, 1 << 63, .max] {
            try expect(VringDescriptorPayload.decode(value) == nil, "bits 9-63 must be clear")
        }
    },
]
