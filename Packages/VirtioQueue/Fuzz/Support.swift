// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// Guest memory reused across executions, and valid ring images the fuzzer mutates.

import VMMemory

/// Low RAM the input is copied into.
let fuzzRAMSize: UInt64 = 0x1_0000
/// A second, small region past a hole, so buffers can straddle or miss memory.
let fuzzHighStart: UInt64 = 0x2_0000

/// The two regions, allocated once; `lowRegion` is re-zeroed before each execution.
let lowRegion: BufferRegion = {
    // A failure here is a harness bug, not a finding: stop loudly.
    guard let region = try? BufferRegion(start: GuestAddress(0), size: fuzzRAMSize) else {
        fatalError("cannot allocate fuzz guest memory")
    }
    return region
}()

let fuzzMemory: GuestMemoryMap<BufferRegion> = {
    guard let high = try? BufferRegion(start: GuestAddress(fuzzHighStart), size: 0x1000),
        let memory = try? GuestMemoryMap(regions: [lowRegion, high])
    else { fatalError("cannot allocate fuzz guest memory") }
    return memory
}()

/// Copies libFuzzer's input into an array.
func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    // SAFETY: libFuzzer guarantees `data` points at `size` readable bytes for the call.
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Applies (offset low, offset high, value) triples from `patches` to `template`.
func patched(_ template: [UInt8], with patches: ArraySlice<UInt8>) -> [UInt8] {
    var result = template
    var index = patches.startIndex
    while index + 2 < patches.endIndex {
        let offset = (Int(patches[index]) | Int(patches[index + 1]) << 8) % result.count
        result[offset] = patches[index + 2]
        index += 3
    }
    return result
}

func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
    for index in 0..<(T.bitWidth / 8) { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (index * 8)) }
}

/// Ring areas of both templates: descriptors at 0x1000, driver area at 0x1100,
/// device area at 0x1200 (split) or 0x1104 (packed), an indirect table at 0x3000.
/// The image covers [0, 0x3100): patches land in the structures, not in buffers.
let templateSize = 0x3100

func splitDescriptor(
    _ image: inout [UInt8], at offset: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16
) {
    put(address, at: offset, in: &image)
    put(length, at: offset + 8, in: &image)
    put(flags, at: offset + 12, in: &image)
    put(next, at: offset + 14, in: &image)
}

/// A split queue of 16 entries offering four chains: readable + writable, indirect
/// (three entries), three descriptors ending in the high region, and a zero-length one.
let splitTemplate: [UInt8] = {
    var image = [UInt8](repeating: 0, count: templateSize)
    splitDescriptor(&image, at: 0x1000, address: 0x4000, length: 16, flags: 1, next: 1)
    splitDescriptor(&image, at: 0x1010, address: 0x5000, length: 32, flags: 2, next: 0)
    splitDescriptor(&image, at: 0x1020, address: 0x3000, length: 48, flags: 4, next: 0)
    splitDescriptor(&image, at: 0x1030, address: 0x6000, length: 8, flags: 1, next: 4)
    splitDescriptor(&image, at: 0x1040, address: 0x6100, length: 8, flags: 1, next: 5)
    splitDescriptor(&image, at: 0x1050, address: fuzzHighStart, length: 64, flags: 2, next: 0)
    splitDescriptor(&image, at: 0x1060, address: 0x7000, length: 0, flags: 0, next: 0)
    splitDescriptor(&image, at: 0x3000, address: 0x8000, length: 100, flags: 1, next: 2)
    splitDescriptor(&image, at: 0x3020, address: 0x9000, length: 200, flags: 3, next: 1)
    splitDescriptor(&image, at: 0x3010, address: 0xa000, length: 300, flags: 2, next: 0)
    for (slot, head) in [UInt16(0), 2, 3, 6].enumerated() { put(head, at: 0x1104 + 2 * slot, in: &image) }
    put(UInt16(4), at: 0x1102, in: &image)  // avail.idx
    put(UInt16(2), at: 0x1104 + 2 * 16, in: &image)  // used_event
    return image
}()

/// A packed queue of 16 entries, driver wrap counter 1, offering four buffers in
/// slots 0-6 (one through an indirect table), and a descriptor event at slot 3.
let packedTemplate: [UInt8] = {
    var image = [UInt8](repeating: 0, count: templateSize)
    let available: UInt16 = 1 << 7
    let layout: [(UInt64, UInt32, UInt16, UInt16)] = [
        (0x4000, 16, 1, 1), (0x5000, 32, 1, 2), (0x3000, 48, 2, 4), (0x6000, 8, 3, 1), (0x6100, 8, 3, 1),
        (fuzzHighStart, 64, 3, 2), (0x7000, 0, 4, 0),
    ]
    for (slot, descriptor) in layout.enumerated() {
        let offset = 0x1000 + 16 * slot
        put(descriptor.0, at: offset, in: &image)
        put(descriptor.1, at: offset + 8, in: &image)
        put(descriptor.2, at: offset + 12, in: &image)
        put(descriptor.3 | available, at: offset + 14, in: &image)
    }
    for (index, entry) in [(UInt64(0x8000), UInt32(100), UInt16(0)), (0x9000, 200, 2), (0xa000, 300, 2)].enumerated() {
        put(entry.0, at: 0x3000 + 16 * index, in: &image)
        put(entry.1, at: 0x3008 + 16 * index, in: &image)
        put(entry.2, at: 0x300e + 16 * index, in: &image)
    }
    put(UInt16(0x8003), at: 0x1100, in: &image)  // driver event: slot 3, wrap 1
    put(UInt16(2), at: 0x1102, in: &image)  // RING_EVENT_FLAGS_DESC
    return image
}()
