// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Vhost

// Input: everything a hostile back-end sends, as one byte stream. The first half is read
// the way VhostUserFrontend reads replies (12-byte header, then the header's size, then
// decodeReply) while it walks a front-end's session: negotiation, configuration, memory
// table and ring hand-over with REPLY_ACK, GET_VRING_BASE on stop. The second half is
// read as the back-end channel (decodeBackendRequest), request after request.

/// The front-end's requests in the order a session sends them, with whether a REPLY_ACK is awaited.
let session: [(VhostUserRequest, Bool)] = [
    (.getFeatures, false), (.getProtocolFeatures, false), (.setProtocolFeatures, true), (.getQueueNum, false),
    (.getConfig, false), (.setBackendReqFd, true), (.setFeatures, true), (.setMemTable, true),
    (.setVringNum, true), (.setVringAddr, true), (.setVringBase, true), (.setVringKick, true),
    (.setVringCall, true), (.setVringEnable, true), (.setStatus, true), (.getVringBase, false), (.getStatus, false),
]

/// Splits `stream` into frames the way a reader of the socket does; nil when it ends mid-frame
/// or a header is refused (the frontend stops at the first bad reply).
func nextFrame(_ stream: [UInt8], _ offset: inout Int) -> [UInt8]? {
    guard stream.count - offset >= VhostUserMessage.headerSize else { return nil }
    let header = Array(stream[offset..<offset + VhostUserMessage.headerSize])
    guard let size = try? VhostUserMessage.decodeHeader(header).size else { return nil }
    let end = offset + VhostUserMessage.headerSize + Int(size)
    guard end <= stream.count else { return nil }
    defer { offset = end }
    return Array(stream[offset..<end])
}

/// libFuzzer entry: the first half of the input as a session's replies, the second half as
/// back-end channel requests.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReply(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = inputBytes(data, size)
    let replies = Array(input.prefix(input.count / 2))
    let requests = Array(input.suffix(from: input.count / 2))

    var offset = 0
    for (request, acknowledged) in session {
        guard request.replyLayout != nil || acknowledged else { continue }
        guard let frame = nextFrame(replies, &offset) else { break }
        do throws(VhostUserError) {
            let payload = try VhostUserMessage.decodeReply(to: request, frame, acknowledged: acknowledged)
            precondition(payload.layout == (request.replyLayout ?? .u64), "a reply has its request's layout")
            if case .config(let config) = payload {
                precondition(config.bytes.count <= Int(VhostUserMessage.maximumConfigSize), "bounded config")
            }
        } catch {
            break  // the frontend drops the connection at the first bad reply
        }
    }
    precondition(offset <= replies.count, "frames stay inside the stream")

    offset = 0
    while let frame = nextFrame(requests, &offset) {
        guard let message = try? VhostUserMessage.decodeBackendRequest(frame) else { break }
        guard let request = VhostUserBackendRequest(rawValue: message.request) else {
            fatalError("an unknown back-end request was accepted")
        }
        precondition(!message.flags.contains(.reply), "a reply is not a request")
        if request == .configChangeMsg { precondition(message.payload == .empty, "a config change carries nothing") }
        let answer = VhostUserMessage.backendReply(to: message.request, status: 0).encoded()
        precondition(answer.count == VhostUserMessage.headerSize + 8, "the front-end's answer is a u64")
    }
    return 0
}
