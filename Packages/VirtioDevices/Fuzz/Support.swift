// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// Shared by every fuzz target: the input as bytes, one guest memory reused across
// executions, and descriptor chains decoded from the input the way a virtqueue
// hands them to a device.

import VMMemory
import VirtioQueue

/// Low RAM the input's memory image is copied into.
let fuzzRAMSize: UInt64 = 0x1_0000
/// A second, small region past a hole, so buffers can straddle or miss memory.
let fuzzHighStart: UInt64 = 0x2_0000
let fuzzHighSize: UInt64 = 0x1000

/// The two regions, allocated once; `lowRegion` is re-zeroed before each execution.
let lowRegion: BufferRegion = {
    // A failure here is a harness bug, not a finding: stop loudly.
    guard let region = try? BufferRegion(start: GuestAddress(0), size: fuzzRAMSize) else {
        fatalError("cannot allocate fuzz guest memory")
    }
    return region
}()

let highRegion: BufferRegion = {
    guard let region = try? BufferRegion(start: GuestAddress(fuzzHighStart), size: fuzzHighSize) else {
        fatalError("cannot allocate fuzz guest memory")
    }
    return region
}()

let fuzzMemory: GuestMemoryMap<BufferRegion> = {
    guard let memory = try? GuestMemoryMap(regions: [lowRegion, highRegion]) else {
        fatalError("cannot allocate fuzz guest memory")
    }
    return memory
}()

/// Copies libFuzzer's input into an array.
func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    // SAFETY: libFuzzer guarantees `data` points at `size` readable bytes for the call.
    return Array(UnsafeBufferPointer(start: data, count: size))
}

func little16(_ bytes: [UInt8], _ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }

/// Zeroes both regions and copies `image` to guest address 0 (at most 64 KiB of it).
func loadMemory(_ image: ArraySlice<UInt8>) {
    lowRegion.hostAddress.initializeMemory(as: UInt8.self, repeating: 0, count: Int(fuzzRAMSize))
    highRegion.hostAddress.initializeMemory(as: UInt8.self, repeating: 0, count: Int(fuzzHighSize))
    let bytes = Array(image.prefix(Int(fuzzRAMSize)))
    // SAFETY: `bytes` has at most fuzzRAMSize bytes, the size of the low region's buffer.
    bytes.withUnsafeBytes { buffer in
        if let base = buffer.baseAddress { lowRegion.hostAddress.copyMemory(from: base, byteCount: buffer.count) }
    }
}

/// Bytes per encoded descriptor: address / 16 (2 bytes), length (2), flags (1).
let descriptorEncodingSize = 5

/// Decodes `count` descriptors at `offset` into the chain a virtqueue would hand out:
/// buffers outside guest memory are dropped (the queue refuses such chains), readable
/// buffers come first, at least one buffer. Flags bit 0: device-writable; bit 1: the
/// address is an offset into the high region (so buffers can end at its last byte).
func decodeChain(_ input: [UInt8], at offset: Int, count: Int) -> DescriptorChain? {
    var readable: [ChainDescriptor] = []
    var writable: [ChainDescriptor] = []
    for index in 0..<count {
        let start = offset + index * descriptorEncodingSize
        guard start + descriptorEncodingSize <= input.count else { break }
        let flags = input[start + 4]
        let raw = UInt64(little16(input, start)) << 4
        let address = GuestAddress(flags & 2 != 0 ? fuzzHighStart + raw % fuzzHighSize : raw)
        let length = UInt32(little16(input, start + 2))
        if length > 0 && (try? fuzzMemory.checkRange(at: address, length: UInt64(length))) == nil { continue }
        let descriptor = ChainDescriptor(address: address, length: length, isWritable: flags & 1 != 0)
        if descriptor.isWritable { writable.append(descriptor) } else { readable.append(descriptor) }
    }
    guard !readable.isEmpty || !writable.isEmpty else { return nil }
    let total = UInt16(readable.count + writable.count)
    return DescriptorChain(
        id: 0, headIndex: 0, ringDescriptorCount: total, isIndirect: false, descriptors: readable + writable)
}

/// The common front of the chain-based targets: loads the memory image that follows the
/// `count` descriptors encoded at `offset`, then decodes them. Returns the chain (nil when
/// no buffer is left) and where the image starts in `input`.
func loadImageAndChain(
    _ input: [UInt8], descriptorsAt offset: Int, count: Int
) -> (chain: DescriptorChain?, imageStart: Int) {
    let imageStart = min(input.count, offset + count * descriptorEncodingSize)
    loadMemory(input[imageStart...])
    return (decodeChain(input, at: offset, count: count), imageStart)
}

/// Whether `[address, address + length)` lies inside one of `buffers`.
func covered(_ address: GuestAddress, _ length: UInt64, by buffers: ArraySlice<ChainDescriptor>) -> Bool {
    buffers.contains { buffer in
        guard address >= buffer.address, let end = address.checkedAdd(length) else { return false }
        return end.rawValue <= buffer.address.rawValue + UInt64(buffer.length)
    }
}
