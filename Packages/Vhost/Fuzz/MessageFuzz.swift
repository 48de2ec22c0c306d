// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Vhost

// Input: the bytes a hostile peer sends, whole. Byte 0 also picks the request whose
// reply the bytes are read as (its value modulo the number of requests).

/// Checks what the codec promises about a message it accepted; a violation crashes
/// the fuzzer, which is the finding.
func checkDecoded(_ message: VhostUserMessage, from input: [UInt8]) {
    guard let request = VhostUserRequest(rawValue: message.request) else {
        fatalError("decode accepted an unknown request")
    }
    precondition(message.payload.layout == request.requestLayout, "the payload has the request's layout")
    precondition(message.flags.contains(.version1), "an accepted message is version 1")
    if case .memoryTable(let regions) = message.payload {
        precondition(regions.count <= VhostUserMessage.maximumRegions, "at most 8 regions")
    }
    if case .config(let config) = message.payload {
        precondition(config.bytes.count <= Int(VhostUserMessage.maximumConfigSize), "at most 256 config bytes")
    }
    let encoded = message.encoded()
    precondition(encoded.count <= input.count, "re-encoding never grows a message")
    guard let again = try? VhostUserMessage.decode(encoded) else {
        fatalError("a re-encoded message does not decode")
    }
    precondition(again == message, "decode(encode(decode(bytes))) == decode(bytes)")
    precondition(again.encoded() == encoded, "encoding is deterministic")
}

/// libFuzzer entry: decode the input as a request, as the reply to the request byte 0
/// picks (with and without REPLY_ACK) and as a bare header.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = inputBytes(data, size)
    if let message = try? VhostUserMessage.decode(input) { checkDecoded(message, from: input) }

    let requests = VhostUserRequest.allCases
    let request = requests[Int(input.first ?? 0) % requests.count]
    for acknowledged in [false, true] {
        do throws(VhostUserError) {
            let payload = try VhostUserMessage.decodeReply(to: request, input, acknowledged: acknowledged)
            let expected = request.replyLayout ?? .u64
            precondition(payload.layout == expected, "a reply has the request's reply layout")
            if acknowledged, request.replyLayout == nil {
                precondition(payload == .u64(0), "an accepted REPLY_ACK has status zero")
            }
        } catch {
            if case .refused(_, let status) = error { precondition(status != 0, "only a non-zero status is refused") }
        }
    }

    if let header = try? VhostUserMessage.decodeHeader(input) {
        precondition(input.count >= VhostUserMessage.headerSize, "a header has 12 bytes")
        precondition(header.size <= VhostUserMessage.maximumPayloadSize, "the size is bounded")
        precondition(header.flags.rawValue & VhostUserFlags.versionMask == 1, "the version is 1")
    }
    return 0
}
