// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory
import VirtioQueue

@testable import VirtioDevices

// Input layout:
//   byte 0      limits: bit 0 read-only, 1 discard negotiated, 2 write-zeroes
//               negotiated, 3 capacity UInt64.max (else bytes 5-6 in sectors)
//   byte 1      segment maximum
//   byte 2      maximum range segments
//   bytes 3-4   maximum discard / write-zeroes sectors, in units of 256
//   bytes 5-6   capacity in sectors
//   byte 7      descriptor count (low 4 bits, plus one)
//   then        that many 5-byte descriptors (see decodeChain)
//   the rest    the first 64 KiB of guest RAM (the request header, ranges)

/// The bytes before the descriptors.
let headerSize = 8

/// libFuzzer entry: parse a virtio-blk request from a chain over guest memory and
/// check what the parser promises the device about everything it accepts.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBlockRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = inputBytes(data, size)
    guard input.count >= headerSize else { return 0 }
    guard let chain = loadImageAndChain(input, descriptorsAt: headerSize, count: Int(input[7] & 0xf) + 1).chain
    else { return 0 }
    let limits = BlockLimits(
        capacityBytes: input[0] & 8 != 0 ? .max : UInt64(little16(input, 5)) * DiskImage.sectorSize,
        readOnly: input[0] & 1 != 0, segmentMaximum: Int(input[1]), discardNegotiated: input[0] & 2 != 0,
        writeZeroesNegotiated: input[0] & 4 != 0, maximumDiscardSectors: UInt32(input[3]) << 8,
        maximumWriteZeroesSectors: UInt32(input[4]) << 8, maximumRangeSegments: Int(input[2]))
    let request = BlockRequest.parse(chain, memory: fuzzMemory, limits: limits)
    let again = BlockRequest.parse(chain, memory: fuzzMemory, limits: limits)
    precondition(again.operation == request.operation && again.statusAddress == request.statusAddress, "deterministic")
    // Last: it writes the status byte, which a guest may alias with the header.
    check(request, chain: chain, limits: limits)
    return 0
}

/// The parser's promises; a violation crashes the fuzzer, which is the finding.
func check(_ request: BlockRequest, chain: DescriptorChain, limits: BlockLimits) {
    let readable = chain.readableLength
    let writable = chain.writableLength
    guard let status = request.statusAddress else {
        precondition(writable == 0, "a chain with a writable byte gets a status")
        guard case .reject(.ioError) = request.operation else { preconditionFailure("no status, yet accepted") }
        return
    }
    // The status byte is the last byte of the last non-empty writable buffer, in guest memory.
    precondition(covered(status, 1, by: chain.writable), "status byte outside the writable buffers")
    let last = chain.writable.last { $0.length > 0 }
    precondition(last.map { $0.address.rawValue + UInt64($0.length) - 1 } == status.rawValue, "status not last")
    precondition((try? fuzzMemory.write([0], to: status)) != nil, "status byte not writable")
    let payload = readable &- BlockRequest.headerSize
    let response = writable - 1

    func checkData(_ data: [BlockDataSegment], in buffers: ArraySlice<ChainDescriptor>, length: UInt64) {
        precondition(data.allSatisfy { $0.length > 0 }, "empty segment")
        precondition(data.reduce(0) { $0 + $1.length } == length, "segments do not add up")
        for segment in data {
            precondition(covered(segment.address, segment.length, by: buffers), "segment outside its buffers")
            precondition(
                (try? fuzzMemory.checkRange(at: segment.address, length: segment.length)) != nil,
                "segment outside guest memory")
        }
    }

    switch request.operation {
    case .reject:
        precondition(request.dataLength == 0, "a rejected request moves no data")
    case .read(let offset, let data), .write(let offset, let data):
        let isRead = if case .read = request.operation { true } else { false }
        precondition(readable >= BlockRequest.headerSize, "accepted without a header")
        precondition(isRead || !limits.readOnly, "write on a read-only disk")
        precondition(isRead ? payload == 0 : response == 0, "data flows the wrong way")
        let length = request.dataLength
        precondition(length == (isRead ? response : payload), "data length is not the buffers' length")
        precondition(length % DiskImage.sectorSize == 0 && offset % DiskImage.sectorSize == 0, "not whole sectors")
        precondition(offset <= limits.capacityBytes && length <= limits.capacityBytes - offset, "past the disk end")
        precondition(data.count <= limits.segmentMaximum, "more segments than allowed")
        // A read fills the writable buffers up to the status byte; a write takes the readable ones after the header.
        checkData(data, in: isRead ? chain.writable : chain.readable, length: length)
    case .flush:
        precondition(readable == BlockRequest.headerSize && writable == 1, "flush carries data")
    case .getID(let data):
        precondition(readable == BlockRequest.headerSize && response > 0, "GET_ID without room")
        checkData(data, in: chain.writable, length: min(response, UInt64(DiskImage.identifierLength)))
    case .discard(let ranges), .writeZeroes(let ranges):
        let isDiscard = if case .discard = request.operation { true } else { false }
        precondition(!limits.readOnly, "discard or write-zeroes on a read-only disk")
        precondition(isDiscard ? limits.discardNegotiated : limits.writeZeroesNegotiated, "not negotiated")
        precondition(response == 0 && payload == UInt64(ranges.count) * BlockRequest.rangeSize, "range count")
        precondition(!ranges.isEmpty && ranges.count <= limits.maximumRangeSegments, "range segment limit")
        let maximum = UInt64(isDiscard ? limits.maximumDiscardSectors : limits.maximumWriteZeroesSectors)
        for range in ranges {
            precondition(!(isDiscard && range.unmap), "unmap on a discard")
            precondition(range.length <= maximum * DiskImage.sectorSize, "range too long")
            precondition(range.offset % DiskImage.sectorSize == 0 && range.length % DiskImage.sectorSize == 0)
            precondition(
                range.offset <= limits.capacityBytes && range.length <= limits.capacityBytes - range.offset,
                "range past the disk end")
        }
    }
}
