// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import PortableTesting
import VMMemory

/// Fails unless `body` throws some ``LoaderError`` (any case).
func expectRefused(
    file: StaticString = #filePath, line: UInt = #line, _ body: () throws(LoaderError) -> Void
)
    throws(TestFailure)
{
    try expectThrows(LoaderError.self, file: file, line: line, body)
}

extension Array where Element == UInt8 {
    mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        for index in 0..<(T.bitWidth / 8) { self[offset + index] = UInt8(truncatingIfNeeded: value >> (index * 8)) }
    }

    func get<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for index in stride(from: T.bitWidth / 8 - 1, through: 0, by: -1) {
            value = value << 8 | T(self[offset + index])
        }
        return value
    }
}

/// A synthetic bzImage: 4 setup sectors + boot sector, then `kernelSize` bytes of
/// protected-mode "code" (a counting pattern), boot protocol 2.15, relocatable.
func makeBzImage(
    version: UInt16 = 0x020f, kernelSize: Int = 0x3000, relocatable: Bool = true, alignment: UInt32 = 0x20_0000,
    minAlignmentShift: UInt8 = 21, initSize: UInt32 = 0x8000, preferred: UInt64 = 0x100_0000
) -> [UInt8] {
    let setupSize = 5 * 512
    var image = [UInt8](repeating: 0, count: setupSize + kernelSize)
    image[0x1f1] = 4
    image.put(UInt32(kernelSize / 16), at: 0x1f4)
    image.put(UInt16(0xaa55), at: 0x1fe)
    image[0x200] = 0xeb
    image[0x201] = 0x6a  // jump over the header to 0x26c
    image.put(UInt32(0x5372_6448), at: 0x202)
    image.put(version, at: 0x206)
    image[0x211] = 0x01  // LOADED_HIGH
    image.put(UInt32(0x10_0000), at: 0x214)
    image.put(UInt32(0x7fff_ffff), at: 0x22c)
    image.put(alignment, at: 0x230)
    image[0x234] = relocatable ? 1 : 0
    image[0x235] = minAlignmentShift
    image.put(UInt16(0x3), at: 0x236)  // XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G
    image.put(UInt32(2047), at: 0x238)
    image.put(preferred, at: 0x258)
    image.put(initSize, at: 0x260)
    for index in 0..<kernelSize { image[setupSize + index] = UInt8(truncatingIfNeeded: index) }
    return image
}

/// One program header for ``makeELF``.
struct ProgramHeader {
    var type: UInt32 = 1
    var offset: UInt64
    var address: UInt64
    var fileSize: UInt64
    var memorySize: UInt64
}

/// A synthetic x86_64 ELF executable: header, program headers at 64, then payload.
/// With `notes` a PT_NOTE segment is appended holding those bytes.
func makeELF(
    entry: UInt64 = 0x100_0000, segments: [ProgramHeader]? = nil, notes: [UInt8]? = nil, fileSize: Int = 0x3000
) -> [UInt8] {
    var image = [UInt8](repeating: 0, count: fileSize)
    image[0] = 0x7f
    image[1] = 0x45
    image[2] = 0x4c
    image[3] = 0x46
    image[4] = 2
    image[5] = 1
    image[6] = 1
    image.put(UInt16(2), at: 16)
    image.put(UInt16(62), at: 18)
    image.put(UInt32(1), at: 20)
    image.put(entry, at: 24)
    image.put(UInt64(64), at: 32)
    image.put(UInt16(64), at: 52)
    image.put(UInt16(56), at: 54)
    var headers =
        segments ?? [
            ProgramHeader(offset: 0x1000, address: 0x100_0000, fileSize: 0x1000, memorySize: 0x1000),
            ProgramHeader(offset: 0x2000, address: 0x100_1000, fileSize: 0x800, memorySize: 0x2000),
        ]
    if let notes {
        let noteOffset = fileSize - 0x400
        for (index, byte) in notes.enumerated() { image[noteOffset + index] = byte }
        headers.append(
            ProgramHeader(
                type: 4, offset: UInt64(noteOffset), address: 0, fileSize: UInt64(notes.count), memorySize: 0))
    }
    image.put(UInt16(headers.count), at: 56)
    for (index, header) in headers.enumerated() {
        let base = 64 + index * 56
        image.put(header.type, at: base)
        image.put(UInt64(header.offset), at: base + 8)
        image.put(header.address, at: base + 16)
        image.put(header.address, at: base + 24)
        image.put(header.fileSize, at: base + 32)
        image.put(header.memorySize, at: base + 40)
    }
    for index in 0x1000..<Swift.min(fileSize, 0x2800) { image[index] = UInt8(truncatingIfNeeded: index ^ 0x5a) }
    return image
}

/// An ELF note with name `name` (NUL added), `type` and `descriptor`.
func makeNote(name: [UInt8], type: UInt32, descriptor: [UInt8]) -> [UInt8] {
    var note = [UInt8](repeating: 0, count: 12)
    note.put(UInt32(name.count + 1), at: 0)
    note.put(UInt32(descriptor.count), at: 4)
    note.put(type, at: 8)
    note += name + [0]
    while note.count % 4 != 0 { note.append(0) }
    note += descriptor
    while note.count % 4 != 0 { note.append(0) }
    return note
}

/// Little-endian bytes of `value`.
func bytesOf<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: T.bitWidth / 8)
    bytes.put(value, at: 0)
    return bytes
}

/// A synthetic arm64 Image: header plus `size - 64` bytes.
func makeArm64Image(
    textOffset: UInt64 = 0, imageSize: UInt64 = 0x4000, flags: UInt64 = 0xa, size: Int = 0x2000
)
    -> [UInt8]
{
    var image = [UInt8](repeating: 0xaa, count: size)
    for index in 0..<64 { image[index] = 0 }
    image.put(UInt32(0x1400_0010), at: 0)  // b +64 (code0)
    image.put(textOffset, at: 8)
    image.put(imageSize, at: 16)
    image.put(flags, at: 24)
    image.put(UInt32(0x644d_5241), at: 56)
    return image
}

/// A synthetic riscv64 Image (header version 0.2).
func makeRiscVImage(
    textOffset: UInt64 = 0x20_0000, imageSize: UInt64 = 0x4000, size: Int = 0x2000, magic2: Bool = true
)
    -> [UInt8]
{
    var image = [UInt8](repeating: 0x13, count: size)
    for index in 0..<64 { image[index] = 0 }
    image.put(UInt32(0x0000_0013), at: 0)  // nop (code0)
    image.put(textOffset, at: 8)
    image.put(imageSize, at: 16)
    image.put(UInt32(2), at: 32)  // version 0.2
    image.put(UInt64(0x5643_5349_52), at: 48)
    if magic2 { image.put(UInt32(0x0543_5352), at: 56) }
    return image
}

/// Guest RAM for loader cases: [0, size) as one region plus an optional second region.
func makeMemory(
    size: UInt64 = 0x200_0000, high: (UInt64, UInt64)? = nil
) throws(TestFailure)
    -> GuestMemoryMap<BufferRegion>
{
    try expectNoError { () throws(GuestMemoryError) in
        var regions = [try BufferRegion(start: GuestAddress(0), size: size)]
        if let high { regions.append(try BufferRegion(start: GuestAddress(high.0), size: high.1)) }
        return try GuestMemoryMap(regions: regions)
    }
}

/// Reads guest memory in a case.
func readMemory(_ memory: some GuestMemory, _ address: UInt64, _ count: Int) throws(TestFailure) -> [UInt8] {
    try expectNoError { () throws(GuestMemoryError) in try memory.read(count: count, from: GuestAddress(address)) }
}

/// Byte comparison, so the case does not need String comparison (Unicode tables) on riscv64.
func utf8(_ text: StaticString) -> [UInt8] {
    Array(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
}

/// One `Elf64_Sym` for ``makeSymbolELF``.
struct TestSymbol {
    var name: [UInt8]
    var address: UInt64
    var size: UInt64 = 0
    /// `STT_*`: 0 NOTYPE, 1 OBJECT, 2 FUNC, 3 SECTION, 4 FILE.
    var type: UInt8 = 2
    /// `STB_*`: 0 LOCAL, 1 GLOBAL, 2 WEAK.
    var binding: UInt8 = 1
    /// `st_shndx`: 1 is the synthetic `.text`, 0 is `SHN_UNDEF`.
    var section: UInt16 = 1
}

/// ``makeSymbolELF``'s file and where its parts are, for cases that corrupt them.
struct SymbolELF {
    var bytes: [UInt8]
    /// `e_shoff`: four section headers (NULL, .text, .symtab, .strtab).
    var sectionHeaders: Int
    /// `.symtab`: the null symbol, then `symbols` in order.
    var symbolTable: Int
    /// `.strtab`: a NUL, then each name with its NUL, in order.
    var stringTable: Int

    /// The offset of section header `index`.
    func header(_ index: Int) -> Int { sectionHeaders + index * 64 }
    /// The offset of symbol `index` (0 is the null symbol).
    func symbol(_ index: Int) -> Int { symbolTable + index * 24 }
}

/// ``makeELF``'s executable with `.strtab`, `.symtab` and the section headers appended
/// after its 0x3000 bytes, so it is both a valid ``ELFKernel`` and has symbols.
func makeSymbolELF(_ symbols: [TestSymbol]) -> SymbolELF {
    var image = makeELF()
    let stringTable = image.count
    var names: [UInt32] = []
    image.append(0)
    for symbol in symbols {
        names.append(UInt32(image.count - stringTable))
        image += symbol.name + [0]
    }
    let stringSize = image.count - stringTable
    while image.count % 8 != 0 { image.append(0) }
    let symbolTable = image.count
    image += [UInt8](repeating: 0, count: 24 * (symbols.count + 1))
    for (index, symbol) in symbols.enumerated() {
        let entry = symbolTable + (index + 1) * 24
        image.put(names[index], at: entry)
        image[entry + 4] = symbol.binding << 4 | symbol.type
        image.put(symbol.section, at: entry + 6)
        image.put(symbol.address, at: entry + 8)
        image.put(symbol.size, at: entry + 16)
    }
    let sectionHeaders = image.count
    image += [UInt8](repeating: 0, count: 4 * 64)
    func section(_ index: Int, type: UInt32, offset: Int, size: Int, link: UInt32 = 0, entrySize: UInt64 = 0) {
        let header = sectionHeaders + index * 64
        image.put(type, at: header + 4)
        image.put(UInt64(offset), at: header + 24)
        image.put(UInt64(size), at: header + 32)
        image.put(link, at: header + 40)
        image.put(entrySize, at: header + 56)
    }
    section(1, type: 1, offset: 0x1000, size: 0x1000)
    image.put(UInt64(0x100_0000), at: sectionHeaders + 64 + 16)
    section(2, type: 2, offset: symbolTable, size: 24 * (symbols.count + 1), link: 3, entrySize: 24)
    section(3, type: 3, offset: stringTable, size: stringSize)
    image.put(UInt64(sectionHeaders), at: 40)
    image.put(UInt16(64), at: 58)
    image.put(UInt16(4), at: 60)
    return SymbolELF(
        bytes: image, sectionHeaders: sectionHeaders, symbolTable: symbolTable, stringTable: stringTable)
}
