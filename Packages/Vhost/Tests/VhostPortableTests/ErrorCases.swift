// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import Vhost

/// Fails unless decoding `bytes` as a request throws exactly `expected`.
func expectDecodeError(_ expected: VhostUserError, _ bytes: [UInt8], line: UInt = #line) throws(TestFailure) {
    try expectError(expected, line: line) { () throws(VhostUserError) in _ = try VhostUserMessage.decode(bytes) }
}

/// Fails unless reading `bytes` as a header throws exactly `expected`.
func expectHeaderError(_ expected: VhostUserError, _ bytes: [UInt8], line: UInt = #line) throws(TestFailure) {
    try expectError(expected, line: line) { () throws(VhostUserError) in
        _ = try VhostUserMessage.decodeHeader(bytes)
    }
}

/// Fails unless decoding `bytes` as the reply to `request` throws exactly `expected`.
func expectReplyError(
    _ expected: VhostUserError, _ request: VhostUserRequest, _ bytes: [UInt8], acknowledged: Bool = false,
    line: UInt = #line
) throws(TestFailure) {
    try expectError(expected, line: line) { () throws(VhostUserError) in
        _ = try VhostUserMessage.decodeReply(to: request, bytes, acknowledged: acknowledged)
    }
}

/// Decodes a reply the case expects to be valid.
func decodedReply(
    _ request: VhostUserRequest, _ bytes: [UInt8], acknowledged: Bool = false, line: UInt = #line
) throws(TestFailure) -> VhostUserPayload {
    try expectNoError("decodeReply", line: line) { () throws(VhostUserError) in
        try VhostUserMessage.decodeReply(to: request, bytes, acknowledged: acknowledged)
    }
}

/// The reply flags: version 1 and reply.
let replyFlags: UInt32 = 0x5

/// Hostile headers: short, wrong version, unknown flags or request, oversized.
let headerErrorCases: [PortableTestCase] = [
    PortableTestCase("VhostUserHeader", "fewer than 12 bytes is a truncated header") { () throws(TestFailure) in
        try expectDecodeError(.truncatedHeader(count: 0), [])
        try expectDecodeError(.truncatedHeader(count: 11), Array(header(1, size: 0).prefix(11)))
        try expectHeaderError(.truncatedHeader(count: 4), [1, 0, 0, 0])
        try expectReplyError(.truncatedHeader(count: 8), .getFeatures, Array(header(1, size: 0).prefix(8)))
    },
    PortableTestCase("VhostUserHeader", "version bits other than 1 are refused") { () throws(TestFailure) in
        for flags: UInt32 in [0, 2, 3, 0x4, 0x6, 0xf] {
            try expectDecodeError(.unsupportedVersion(flags: flags), header(1, flags: flags, size: 0))
            try expectHeaderError(.unsupportedVersion(flags: flags), header(1, flags: flags, size: 0))
        }
        try expectReplyError(.unsupportedVersion(flags: 0x4), .getFeatures, header(1, flags: 0x4, size: 8))
    },
    PortableTestCase("VhostUserHeader", "undefined flag bits are refused") { () throws(TestFailure) in
        for flags: UInt32 in [0x11, 0x3, 0x21, 0x8000_0001, 0xffff_fffd] where flags & 3 == 1 {
            try expectDecodeError(.unknownFlags(flags: flags), header(1, flags: flags, size: 0))
        }
        try expectHeaderError(.unknownFlags(flags: 0x1d), header(1, flags: 0x1d, size: 0))
        try expectReplyError(.unknownFlags(flags: 0x15), .getFeatures, header(1, flags: 0x15, size: 8))
    },
    PortableTestCase("VhostUserHeader", "unknown request numbers are refused by decode") { () throws(TestFailure) in
        for request: UInt32 in [0, 44, 0xffff_ffff] {
            try expectDecodeError(.unknownRequest(request), header(request, size: 0))
            try expectDecodeError(.unknownRequest(request), header(request, size: 8) + littleEndian(UInt64(0)))
        }
    },
    PortableTestCase("VhostUserHeader", "sizes above 4096 are too large") { () throws(TestFailure) in
        try expectDecodeError(.payloadTooLarge(size: 4097), header(22, size: 4097))
        try expectHeaderError(.payloadTooLarge(size: 0xffff_ffff), header(1, size: 0xffff_ffff))
        try expectReplyError(.payloadTooLarge(size: 4097), .iotlbMsg, header(22, flags: replyFlags, size: 4097))
        // Checked before the request number and before the payload is read.
        try expectDecodeError(.payloadTooLarge(size: 4097), header(0, size: 4097))
    },
    PortableTestCase("VhostUserHeader", "header checks run in order: version, flags, size") {
        () throws(TestFailure) in
        try expectDecodeError(.unsupportedVersion(flags: 0x10), header(0, flags: 0x10, size: 5000))
        try expectDecodeError(.unknownFlags(flags: 0x11), header(0, flags: 0x11, size: 5000))
    },
]

/// Hostile payloads: short, or with a size that does not fit the layout.
let payloadErrorCases: [PortableTestCase] = [
    PortableTestCase("VhostUserPayload", "fewer bytes than the header's size") { () throws(TestFailure) in
        try expectDecodeError(.truncatedPayload(expected: 8, got: 4), header(8, size: 8) + [1, 0, 0, 0])
        try expectDecodeError(.truncatedPayload(expected: 40, got: 0), header(9, size: 40))
        let almost = header(22, size: 4096) + [UInt8](repeating: 0, count: 4095)
        try expectDecodeError(.truncatedPayload(expected: 4096, got: 4095), almost)
        try expectReplyError(
            .truncatedPayload(expected: 8, got: 3), .getFeatures, header(1, flags: replyFlags, size: 8) + [0, 0, 0])
    },
    PortableTestCase("VhostUserPayload", "bytes past the header's size are a framing error") { () throws(TestFailure) in
        try expectDecodeError(.trailingBytes(count: 1), header(8, size: 8) + [1, 0, 0, 0, 0, 1, 0, 0, 9])
        try expectDecodeError(.trailingBytes(count: 4), header(3, size: 0) + [0, 0, 0, 0])
        try expectReplyError(
            .trailingBytes(count: 2), .getFeatures,
            header(1, flags: replyFlags, size: 8) + [UInt8](repeating: 0, count: 10))
    },
    PortableTestCase("VhostUserPayload", "size mismatch for every fixed layout") { () throws(TestFailure) in
        // (request, a wrong size) for each layout with a fixed or minimum size.
        let wrong: [(VhostUserRequest, UInt32)] = [
            (.setOwner, 4), (.setOwner, 16), (.setFeatures, 0), (.setFeatures, 4), (.setFeatures, 16),
            (.setVringNum, 4), (.setVringNum, 12), (.setVringAddr, 32), (.setVringAddr, 48), (.setMemTable, 0),
            (.setMemTable, 4), (.addMemReg, 32), (.addMemReg, 48), (.setConfig, 0), (.setConfig, 8),
            (.getConfig, 11),
        ]
        for (request, size) in wrong {
            let bytes = header(request.rawValue, size: size) + [UInt8](repeating: 0, count: Int(size))
            try expectDecodeError(.sizeMismatch(request: request.rawValue, size: size), bytes)
        }
    },
    PortableTestCase("VhostUserPayload", "decodePayload reports the request it was given") {
        () throws(TestFailure) in
        try expectError(VhostUserError.sizeMismatch(request: 77, size: 3)) { () throws(VhostUserError) in
            _ = try VhostUserMessage.decodePayload([0, 0, 0], size: 3, layout: .u64, request: 77)
        }
        try expectError(VhostUserError.truncatedPayload(expected: 8, got: 2)) { () throws(VhostUserError) in
            _ = try VhostUserMessage.decodePayload([0, 0], size: 8, layout: .vringState, request: 8)
        }
    },
    PortableTestCase("VhostUserPayload", "more than 8 regions is a bad region count") { () throws(TestFailure) in
        var body: [UInt8] = littleEndian(UInt32(9)) + littleEndian(UInt32(0))
        for seed in 1...UInt64(9) { body += regionBytes(region(seed)) }
        try expectEqual(body.count, 8 + 9 * 32)
        try expectDecodeError(.badRegionCount(9), header(5, size: UInt32(body.count)) + body)
        let huge = littleEndian(UInt32.max) + littleEndian(UInt32(0))
        try expectDecodeError(.badRegionCount(.max), header(5, size: 8) + huge)
    },
    PortableTestCase("VhostUserPayload", "a region count the size does not hold exactly") { () throws(TestFailure) in
        // Two regions claimed, one present.
        let short = littleEndian(UInt32(2)) + littleEndian(UInt32(0)) + regionBytes(region(1))
        try expectDecodeError(.badRegionCount(2), header(5, size: 40) + short)
        // One region claimed, two present.
        let long = littleEndian(UInt32(1)) + littleEndian(UInt32(0)) + regionBytes(region(1)) + regionBytes(region(2))
        try expectDecodeError(.badRegionCount(1), header(5, size: 72) + long)
        // No region claimed, a partial one present.
        try expectDecodeError(.badRegionCount(0), header(5, size: 12) + [UInt8](repeating: 0, count: 12))
    },
    PortableTestCase("VhostUserPayload", "a config window above 256 bytes") { () throws(TestFailure) in
        let body =
            littleEndian(UInt32(0)) + littleEndian(UInt32(257)) + littleEndian(UInt32(0))
            + [UInt8](repeating: 1, count: 257)
        try expectDecodeError(.badConfigSize(257), header(25, size: UInt32(body.count)) + body)
        try expectReplyError(
            .badConfigSize(257), .getConfig, header(24, flags: replyFlags, size: UInt32(body.count)) + body)
    },
    PortableTestCase("VhostUserPayload", "a config window the payload does not hold exactly") {
        () throws(TestFailure) in
        let longer = littleEndian(UInt32(0)) + littleEndian(UInt32(4)) + littleEndian(UInt32(0)) + [1, 2, 3, 4, 5, 6]
        try expectDecodeError(.badConfigSize(4), header(25, size: 18) + longer)
        let shorter = littleEndian(UInt32(0)) + littleEndian(UInt32(8)) + littleEndian(UInt32(0)) + [1, 2]
        try expectDecodeError(.badConfigSize(8), header(25, size: 14) + shorter)
        let huge = littleEndian(UInt32(0)) + littleEndian(UInt32.max) + littleEndian(UInt32(0))
        try expectDecodeError(.badConfigSize(.max), header(24, size: 12) + huge)
    },
]

/// Replies as the front-end reads them, including `REPLY_ACK`.
let replyCases: [PortableTestCase] = [
    PortableTestCase("VhostUserReply", "a reply with its own layout") { () throws(TestFailure) in
        let features = try decodedReply(.getFeatures, header(1, flags: replyFlags, size: 8) + littleEndian(UInt64(7)))
        try expectEqual(features, .u64(7))
        let base = try decodedReply(
            .getVringBase, header(11, flags: replyFlags, size: 8) + littleEndian(UInt32(1)) + littleEndian(UInt32(42)))
        try expectEqual(base, .vringState(VringState(index: 1, num: 42)))
        let config = VhostUserMessage(
            .getConfig, flags: .reply, payload: .config(VhostUserConfig(offset: 0, bytes: [9, 8, 7])))
        try expectEqual(try decodedReply(.getConfig, config.encoded()), config.payload)
    },
    PortableTestCase("VhostUserReply", "the reply flag must be set") { () throws(TestFailure) in
        try expectReplyError(
            .unexpectedReply(expected: 1, got: 1, flags: 1), .getFeatures, header(1, size: 8) + littleEndian(UInt64(0)))
        try expectReplyError(
            .unexpectedReply(expected: 8, got: 8, flags: 9), .setVringNum,
            header(8, flags: 9, size: 8) + littleEndian(UInt64(0)), acknowledged: true)
    },
    PortableTestCase("VhostUserReply", "a reply to another request is refused") { () throws(TestFailure) in
        try expectReplyError(
            .unexpectedReply(expected: 1, got: 15, flags: replyFlags), .getFeatures,
            header(15, flags: replyFlags, size: 8) + littleEndian(UInt64(0)))
        try expectReplyError(
            .unexpectedReply(expected: 8, got: 0xffff_ffff, flags: replyFlags), .setVringNum,
            header(0xffff_ffff, flags: replyFlags, size: 8) + littleEndian(UInt64(0)), acknowledged: true)
    },
    PortableTestCase("VhostUserReply", "REPLY_ACK with a non-zero status is refused") { () throws(TestFailure) in
        let ack = header(8, flags: replyFlags, size: 8) + littleEndian(UInt64(1))
        try expectReplyError(.refused(request: 8, status: 1), .setVringNum, ack, acknowledged: true)
        let failed = header(5, flags: replyFlags, size: 8) + littleEndian(UInt64.max)
        try expectReplyError(.refused(request: 5, status: .max), .setMemTable, failed, acknowledged: true)
    },
    PortableTestCase("VhostUserReply", "REPLY_ACK with status zero succeeds") { () throws(TestFailure) in
        let ack = header(8, flags: replyFlags, size: 8) + littleEndian(UInt64(0))
        try expectEqual(try decodedReply(.setVringNum, ack, acknowledged: true), .u64(0))
    },
    PortableTestCase("VhostUserReply", "status is only judged when acknowledged, on requests without a layout") {
        () throws(TestFailure) in
        let status = header(8, flags: replyFlags, size: 8) + littleEndian(UInt64(3))
        try expectEqual(try decodedReply(.setVringNum, status), .u64(3))
        let features = header(1, flags: replyFlags, size: 8) + littleEndian(UInt64(3))
        try expectEqual(try decodedReply(.getFeatures, features, acknowledged: true), .u64(3))
    },
    PortableTestCase("VhostUserReply", "a REPLY_ACK must be a u64") { () throws(TestFailure) in
        try expectReplyError(
            .sizeMismatch(request: 8, size: 0), .setVringNum, header(8, flags: replyFlags, size: 0), acknowledged: true)
        try expectReplyError(
            .sizeMismatch(request: 8, size: 4), .setVringNum, header(8, flags: replyFlags, size: 4) + [0, 0, 0, 0],
            acknowledged: true)
    },
]

/// Fails unless decoding `bytes` as a back-end request throws exactly `expected`.
func expectBackendRequestError(_ expected: VhostUserError, _ bytes: [UInt8], line: UInt = #line) throws(TestFailure) {
    try expectError(expected, line: line) { () throws(VhostUserError) in
        _ = try VhostUserMessage.decodeBackendRequest(bytes)
    }
}

/// The back-end channel: what a hostile back-end can send a front-end unasked.
let backendRequestCases: [PortableTestCase] = [
    PortableTestCase("VhostUserBackendRequest", "CONFIG_CHANGE_MSG decodes, empty or with a zero u64") {
        () throws(TestFailure) in
        let empty = try expectNoError("decodeBackendRequest") { () throws(VhostUserError) in
            try VhostUserMessage.decodeBackendRequest(header(2, size: 0))
        }
        try expectEqual(empty.request, VhostUserBackendRequest.configChangeMsg.rawValue)
        try expectEqual(empty.payload, .empty)
        let asking = try expectNoError("decodeBackendRequest") { () throws(VhostUserError) in
            try VhostUserMessage.decodeBackendRequest(header(2, flags: 0x9, size: 8) + littleEndian(UInt64(0)))
        }
        try expect(asking.flags.contains(.needReply), "NEED_REPLY kept")
    },
    PortableTestCase("VhostUserBackendRequest", "other known requests keep their bytes") { () throws(TestFailure) in
        let message = try expectNoError("decodeBackendRequest") { () throws(VhostUserError) in
            try VhostUserMessage.decodeBackendRequest(header(3, size: 4) + [1, 2, 3, 4])
        }
        try expectEqual(message.payload, .opaque([1, 2, 3, 4]))
    },
    PortableTestCase("VhostUserBackendRequest", "unknown requests, replies, bad sizes and framing are refused") {
        () throws(TestFailure) in
        try expectBackendRequestError(.unknownRequest(0), header(0, size: 0))
        try expectBackendRequestError(.unknownRequest(4), header(4, size: 0))
        try expectBackendRequestError(.unknownRequest(0xffff_ffff), header(0xffff_ffff, size: 0))
        try expectBackendRequestError(
            .unexpectedReply(expected: 0, got: 2, flags: replyFlags), header(2, flags: replyFlags, size: 0))
        try expectBackendRequestError(.sizeMismatch(request: 2, size: 4), header(2, size: 4) + [0, 0, 0, 0])
        try expectBackendRequestError(.truncatedPayload(expected: 8, got: 2), header(2, size: 8) + [0, 0])
        try expectBackendRequestError(.trailingBytes(count: 1), header(2, size: 0) + [7])
        try expectBackendRequestError(.payloadTooLarge(size: 4097), header(3, size: 4097))
        try expectBackendRequestError(.truncatedHeader(count: 3), [2, 0, 0])
    },
    PortableTestCase("VhostUserBackendRequest", "the front-end's status reply is a u64 with the reply flag") {
        () throws(TestFailure) in
        let bytes = VhostUserMessage.backendReply(to: 2, status: 0).encoded()
        try expectEqual(bytes, header(2, flags: replyFlags, size: 8) + littleEndian(UInt64(0)))
    },
]
