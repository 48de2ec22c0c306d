// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// Shared by every fuzz target: the input as bytes, valid templates to mutate,
// and one guest memory reused across executions.

import LinuxLoader
import VMMemory

/// 48 MiB of guest RAM at 0, allocated once: loads that fit are performed for real.
let fuzzMemory: GuestMemoryMap<BufferRegion> = {
    // A failure here is a harness bug, not a finding: stop loudly.
    guard let region = try? BufferRegion(start: GuestAddress(0), size: 48 << 20),
        let memory = try? GuestMemoryMap(regions: [region])
    else { fatalError("cannot allocate fuzz guest memory") }
    return memory
}()

/// Copies libFuzzer's input into an array.
func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    // SAFETY: libFuzzer guarantees `data` points at `size` readable bytes for the call.
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Applies (offset low, offset high, value) triples from `patches` to `template`, so
/// mutations land in the structures the parsers read instead of being refused at the magic.
func patched(_ template: [UInt8], with patches: ArraySlice<UInt8>) -> [UInt8] {
    var result = template
    var index = patches.startIndex
    while index + 2 < patches.endIndex {
        let offset = (Int(patches[index]) | Int(patches[index + 1]) << 8) % result.count
        result[offset] = patches[index + 2]
        index += 3
    }
    // The last byte, if any, truncates the image: every prefix length is reachable.
    if (patches.count % 3) == 1, let cut = patches.last { result = Array(result.prefix(result.count * Int(cut) / 255)) }
    return result
}

func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
    for index in 0..<(T.bitWidth / 8) { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (index * 8)) }
}

/// A valid boot protocol 2.15 bzImage with a 4 KiB kernel.
let bzImageTemplate: [UInt8] = {
    var image = [UInt8](repeating: 0, count: 5 * 512 + 4096)
    image[0x1f1] = 4
    put(UInt16(0xaa55), at: 0x1fe, in: &image)
    image[0x201] = 0x6a
    put(UInt32(0x5372_6448), at: 0x202, in: &image)
    put(UInt16(0x020f), at: 0x206, in: &image)
    image[0x211] = 1
    put(UInt32(0x7fff_ffff), at: 0x22c, in: &image)
    put(UInt32(0x20_0000), at: 0x230, in: &image)
    image[0x234] = 1
    image[0x235] = 21
    put(UInt16(3), at: 0x236, in: &image)
    put(UInt32(2047), at: 0x238, in: &image)
    put(UInt64(0x100_0000), at: 0x258, in: &image)
    put(UInt32(0x1_0000), at: 0x260, in: &image)
    return image
}()

/// A valid x86_64 ELF with two PT_LOAD segments, a Xen PVH note and a symbol table
/// (`.strtab` at 0x1320, `.symtab` at 0x1340, four section headers at 0x1400).
let elfTemplate: [UInt8] = {
    var image = [UInt8](repeating: 0, count: 0x1500)
    image[0] = 0x7f
    image[1] = 0x45
    image[2] = 0x4c
    image[3] = 0x46
    image[4] = 2
    image[5] = 1
    image[6] = 1
    put(UInt16(2), at: 16, in: &image)
    put(UInt16(62), at: 18, in: &image)
    put(UInt64(0x100_0000), at: 24, in: &image)
    put(UInt64(64), at: 32, in: &image)
    put(UInt16(56), at: 54, in: &image)
    put(UInt16(3), at: 56, in: &image)
    let headers: [(UInt32, UInt64, UInt64, UInt64, UInt64)] = [
        (1, 0x400, 0x100_0000, 0x800, 0x800), (1, 0xc00, 0x100_1000, 0x400, 0x2000), (4, 0x1300, 0, 24, 0),
    ]
    for (index, header) in headers.enumerated() {
        let base = 64 + index * 56
        put(header.0, at: base, in: &image)
        put(header.1, at: base + 8, in: &image)
        put(header.2, at: base + 16, in: &image)
        put(header.2, at: base + 24, in: &image)
        put(header.3, at: base + 32, in: &image)
        put(header.4, at: base + 40, in: &image)
    }
    put(UInt32(4), at: 0x1300, in: &image)
    put(UInt32(8), at: 0x1304, in: &image)
    put(UInt32(18), at: 0x1308, in: &image)
    image[0x130c] = 0x58
    image[0x130d] = 0x65
    image[0x130e] = 0x6e
    put(UInt64(0x100_0040), at: 0x1310, in: &image)
    // "\0start\0label\0"; symbols: null, start (FUNC, 0x40 bytes), label (NOTYPE, unsized).
    let names: [UInt8] = [0, 0x73, 0x74, 0x61, 0x72, 0x74, 0, 0x6c, 0x61, 0x62, 0x65, 0x6c, 0]
    for (index, byte) in names.enumerated() { image[0x1320 + index] = byte }
    let symbols: [(name: UInt32, info: UInt8, address: UInt64, size: UInt64)] = [
        (1, 0x12, 0x100_0000, 0x40), (7, 0x10, 0x100_0100, 0),
    ]
    for (index, symbol) in symbols.enumerated() {
        let entry = 0x1340 + (index + 1) * 24
        put(symbol.name, at: entry, in: &image)
        image[entry + 4] = symbol.info
        put(UInt16(1), at: entry + 6, in: &image)
        put(symbol.address, at: entry + 8, in: &image)
        put(symbol.size, at: entry + 16, in: &image)
    }
    let sections: [(type: UInt32, offset: UInt64, size: UInt64, link: UInt32, entrySize: UInt64)] = [
        (0, 0, 0, 0, 0), (1, 0x400, 0x800, 0, 0), (2, 0x1340, 72, 3, 24), (3, 0x1320, UInt64(names.count), 0, 0),
    ]
    for (index, section) in sections.enumerated() {
        let header = 0x1400 + index * 64
        put(section.type, at: header + 4, in: &image)
        put(section.offset, at: header + 24, in: &image)
        put(section.size, at: header + 32, in: &image)
        put(section.link, at: header + 40, in: &image)
        put(section.entrySize, at: header + 56, in: &image)
    }
    put(UInt64(0x1400), at: 40, in: &image)
    put(UInt16(64), at: 58, in: &image)
    put(UInt16(sections.count), at: 60, in: &image)
    return image
}()

/// A valid riscv64 Image (header version 0.2) that also carries the arm64 magic slot layout.
let imageTemplate: [UInt8] = {
    var image = [UInt8](repeating: 0x13, count: 0x800)
    for index in 0..<64 { image[index] = 0 }
    put(UInt64(0x20_0000), at: 8, in: &image)
    put(UInt64(0x1000), at: 16, in: &image)
    put(UInt32(2), at: 32, in: &image)
    put(UInt64(0x5643_5349_52), at: 48, in: &image)
    put(UInt32(0x0543_5352), at: 56, in: &image)
    return image
}()
