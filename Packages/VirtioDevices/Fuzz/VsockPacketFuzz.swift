// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory
import VirtioQueue

@testable import VirtioDevices

// Input layout:
//   byte 0      descriptor count (low 4 bits, plus one)
//   bytes 1-2   an extra slice offset, bytes 3-4 its length (receive-side slicing)
//   then        that many 5-byte descriptors (see decodeChain)
//   the rest    the first 64 KiB of guest RAM (the 44-byte header, the payload);
//               also the host client's `CONNECT <port>\n` line, when it is short

/// The bytes before the descriptors.
let headerSize = 5

typealias Backend = VsockBackend<GuestMemoryMap<BufferRegion>>

/// Whether `slice` points into one of the two regions' host buffers.
func inHostMemory(_ slice: VolatileSlice) -> Bool {
    [lowRegion, highRegion].contains { region in
        let base = UInt(bitPattern: region.hostAddress)
        let start = UInt(bitPattern: slice.baseAddress)
        return start >= base && start - base + UInt(slice.count) <= UInt(region.size)
    }
}

/// The bytes of `slices`, in order.
func contents(_ slices: [VolatileSlice]) -> [UInt8] {
    slices.flatMap { slice in
        // SAFETY: each slice was checked by inHostMemory to lie inside a live region buffer.
        Array(UnsafeRawBufferPointer(start: slice.baseAddress, count: slice.count))
    }
}

/// libFuzzer entry: take a transmit packet apart the way the vsock backend does (the
/// 44-byte header through a chain reader, the payload as host slices of the readable
/// buffers), check both payload paths agree, slice the writable side as the receive
/// path does, and parse the host client's connect line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVsockPacket(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = inputBytes(data, size)
    guard input.count >= headerSize else { return 0 }
    let (decoded, imageStart) = loadImageAndChain(input, descriptorsAt: headerSize, count: Int(input[0] & 0xf) + 1)
    if input.count - imageStart <= 24 { checkConnectLine(Array(input[imageStart...])) }
    guard let chain = decoded else { return 0 }

    // The transmit path (VsockBackend.transmitPacket and guestData).
    var reader = DescriptorChainReader(chain)
    if reader.remaining >= UInt64(VsockHeader.size) {
        guard let raw = try? reader.readBytes(VsockHeader.size, from: fuzzMemory) else {
            preconditionFailure("a chain in guest memory could not be read")
        }
        guard let header = VsockHeader(decoding: raw) else { preconditionFailure("44 bytes did not decode") }
        precondition(header.bytes == raw, "the header does not round-trip")
        precondition((header.operation == nil) == !(1...7).contains(header.rawOperation), "operation range")
        let length = UInt64(header.length)
        if length > 0 && length <= UInt64(Backend.maximumPayload) && length <= reader.remaining {
            guard
                let slices = try? Backend.slices(
                    of: chain.readable, offset: UInt64(VsockHeader.size), length: length, memory: fuzzMemory)
            else { preconditionFailure("payload inside the chain could not be sliced") }
            precondition(slices.allSatisfy(inHostMemory), "a slice points outside guest memory")
            precondition(slices.reduce(0) { $0 + $1.count } == Int(length), "slices do not add up")
            let copied = try? reader.readBytes(Int(length), from: fuzzMemory)
            precondition(copied == contents(slices), "slices and the reader disagree")
        }
    }

    // Any offset and length, on both sides (the receive path slices the writable buffers).
    let offset = UInt64(little16(input, 1))
    let length = UInt64(little16(input, 3))
    for (buffers, total) in [(chain.readable, chain.readableLength), (chain.writable, chain.writableLength)] {
        do throws(GuestMemoryError) {
            let slices = try Backend.slices(of: buffers, offset: offset, length: length, memory: fuzzMemory)
            // Nothing to take is satisfied anywhere; anything else must lie inside the buffers.
            precondition(length == 0 || offset + length <= total, "sliced past the buffers")
            precondition(slices.allSatisfy(inHostMemory), "a slice points outside guest memory")
            precondition(slices.reduce(0) { $0 + $1.count } == Int(length), "slices do not add up")
        } catch {
            precondition(length > 0 && offset + length > total, "refused a range inside the buffers")
        }
    }
    return 0
}

/// `CONNECT <port>\n` parsing: whatever it accepts is exactly that shape and that number.
func checkConnectLine(_ line: [UInt8]) {
    guard let port = Backend.parseConnectCommand(line) else { return }
    let prefix = Array("CONNECT ".utf8)
    precondition(line.starts(with: prefix) && line.last == UInt8(ascii: "\n"), "accepted a malformed line")
    let digits = line[prefix.count..<(line.count - 1)]
    precondition(!digits.isEmpty && digits.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }, "accepted a non-number")
    precondition(UInt32(String(decoding: digits, as: UTF8.self)) == port, "wrong port")
}
