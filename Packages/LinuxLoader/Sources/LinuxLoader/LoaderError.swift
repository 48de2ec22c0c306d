// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// The kind of kernel image a check was made on.
public enum ImageFormat: Equatable, Sendable, CustomStringConvertible {
    /// An x86 bzImage (boot protocol setup header).
    case bzImage
    /// An ELF file (vmlinux).
    case elf
    /// An arm64 `Image`.
    case arm64Image
    /// A riscv64 `Image`.
    case riscv64Image

    /// The format's usual name (spelled out so Embedded builds need no reflection).
    public var description: String {
        switch self {
        case .bzImage: return "bzImage"
        case .elf: return "ELF file"
        case .arm64Image: return "arm64 Image"
        case .riscv64Image: return "riscv64 Image"
        }
    }
}

/// A size field that a check found absurd (larger than any real kernel needs).
public enum SizeField: Equatable, Sendable, CustomStringConvertible {
    /// The bzImage `init_size` (memory the kernel needs from its load address).
    case initSize
    /// The bzImage setup code (`setup_sects`).
    case setupSize
    /// An ELF program header's `p_memsz`.
    case segmentMemorySize
    /// The number of ELF program headers.
    case programHeaderCount
    /// An Image header's `image_size`.
    case imageSize
    /// An ELF note's name or descriptor size.
    case noteSize
    /// The number of ELF section headers.
    case sectionHeaderCount
    /// The number of entries in an ELF symbol table.
    case symbolCount

    /// The field's name as the specifications spell it.
    public var description: String {
        switch self {
        case .initSize: return "init_size"
        case .setupSize: return "setup_sects"
        case .segmentMemorySize: return "p_memsz"
        case .programHeaderCount: return "e_phnum"
        case .imageSize: return "image_size"
        case .noteSize: return "note size"
        case .sectionHeaderCount: return "e_shnum"
        case .symbolCount: return "symbol count"
        }
    }

    /// Whether the field counts entries rather than bytes.
    var isCount: Bool {
        switch self {
        case .programHeaderCount, .sectionHeaderCount, .symbolCount: return true
        default: return false
        }
    }
}

/// Why a kernel image was refused or could not be loaded.
///
/// A kernel image is untrusted input: every field is checked before it is used,
/// and every problem is one of these values, never a trap.
///
/// ```swift
/// do {
///     _ = try BzImage(bytes)
/// } catch .unsupportedBootProtocol(let version) {
///     print("boot protocol \(version >> 8).\(version & 0xff) is too old")
/// } catch {
///     print(error)
/// }
/// ```
public enum LoaderError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The image ends before `offset + length` (it has `size` bytes).
    case truncated(offset: UInt64, length: UInt64, size: UInt64)
    /// The image does not carry the magic numbers of `format`.
    case badMagic(ImageFormat)
    /// The bzImage speaks a boot protocol older than 2.06.
    case unsupportedBootProtocol(UInt16)
    /// The bzImage is not loaded high (`LOADED_HIGH` clear): a zImage, which 64-bit boot cannot use.
    case notLoadedHigh
    /// A size field is larger than the loader accepts.
    case absurdSize(SizeField, UInt64)
    /// An alignment field or argument is zero or not a power of two.
    case invalidAlignment(UInt64)
    /// The requested load address does not meet the kernel's alignment.
    case misalignedLoadAddress(GuestAddress, alignment: UInt64)
    /// The kernel is not relocatable and must be loaded at `required`.
    case notRelocatable(requested: GuestAddress, required: GuestAddress)
    /// The ELF file is not 64-bit little-endian (class, data encoding).
    case unsupportedELFFormat(elfClass: UInt8, encoding: UInt8)
    /// The ELF file is not an executable (`e_type`).
    case unsupportedELFType(UInt16)
    /// The ELF program header entry size is not 56.
    case invalidProgramHeaderSize(UInt16)
    /// Program header `index` reaches past the end of the file.
    case segmentBeyondFile(index: Int)
    /// Program header `index` has `p_filesz > p_memsz`.
    case segmentFileSizeExceedsMemorySize(index: Int)
    /// Program header `index` places its segment past 2^64.
    case segmentAddressOverflow(index: Int)
    /// Two loadable segments overlap in guest memory.
    case overlappingSegments(Int, Int)
    /// The ELF file has no `PT_LOAD` segment.
    case noLoadableSegments
    /// The entry point does not lie inside the loaded image.
    case entryOutsideImage(UInt64)
    /// An ELF note at `offset` is malformed.
    case malformedNote(offset: UInt64)
    /// The PVH entry point from the Xen note is not a 32-bit address inside the image.
    case invalidPVHEntry(UInt64)
    /// An arm64 Image is big-endian; only little-endian kernels are supported.
    case bigEndianImage
    /// The kernel (or its memory footprint) does not fit guest memory there.
    case kernelOutsideMemory(GuestAddress, length: UInt64)
    /// No place below `limit` in guest memory holds an initrd of `size` bytes.
    case noRoomForInitrd(size: UInt64, limit: UInt64)
    /// The command line does not fit: `length` bytes (with its terminator) against a limit of `limit`.
    case commandLineTooLong(length: Int, limit: Int)
    /// The zero page holds at most 128 E820 entries.
    case tooManyE820Entries
    /// A guest memory access failed.
    case memory(GuestMemoryError)
    /// The ELF file has no symbol table (`SHT_SYMTAB`): stripped, or no section headers.
    case noSymbolTable
    /// The ELF section header entry size (`e_shentsize`) is not 64.
    case invalidSectionHeaderSize(UInt16)
    /// Section `index` reaches past the end of the file.
    case sectionBeyondFile(index: Int)
    /// The symbol table's `sh_link` does not name a string table (`SHT_STRTAB`).
    case invalidStringTableLink(UInt32)
    /// The symbol table's entry size (`sh_entsize`) is not 24.
    case invalidSymbolEntrySize(UInt64)
    /// The symbol table's size is not a multiple of its 24-byte entries.
    case invalidSymbolTableSize(UInt64)
    /// Symbol table entry `symbol`'s name (`st_name`) starts outside the string table.
    case symbolNameOutsideStringTable(symbol: Int)
    /// Symbol table entry `symbol`'s name runs to the end of the string table without a NUL.
    case unterminatedSymbolName(symbol: Int)
    /// Symbol table entry `symbol`'s name is longer than ``ELFSymbolTable/maximumNameLength``.
    case symbolNameTooLong(symbol: Int)

    /// One line naming the failed check and its values.
    public var description: String {
        switch self {
        case .truncated(let offset, let length, let size):
            return "image of \(size) bytes ends before \(length) bytes at offset \(offset)"
        case .badMagic(let format): return "not a \(format) (bad magic number)"
        case .unsupportedBootProtocol(let version):
            return "boot protocol \(version >> 8).\(version & 0xff) is older than 2.06"
        case .notLoadedHigh: return "the bzImage is not loaded high (a zImage)"
        case .absurdSize(let field, let value):
            return "\(field) of \(value)\(field.isCount ? "" : " bytes") is larger than the loader accepts"
        case .invalidAlignment(let alignment): return "alignment \(alignment) is not a power of two"
        case .misalignedLoadAddress(let address, let alignment):
            return "load address \(address) is not aligned to \(alignment)"
        case .notRelocatable(let requested, let required):
            return "kernel is not relocatable: load address \(requested) must be \(required)"
        case .unsupportedELFFormat(let elfClass, let encoding):
            return "ELF class \(elfClass) encoding \(encoding) is not 64-bit little-endian"
        case .unsupportedELFType(let type): return "ELF type \(type) is not an executable"
        case .invalidProgramHeaderSize(let size): return "ELF program header size \(size) is not 56"
        case .segmentBeyondFile(let index): return "ELF segment \(index) reaches past the end of the file"
        case .segmentFileSizeExceedsMemorySize(let index): return "ELF segment \(index) has p_filesz > p_memsz"
        case .segmentAddressOverflow(let index): return "ELF segment \(index) wraps past 2^64"
        case .overlappingSegments(let first, let second): return "ELF segments \(first) and \(second) overlap"
        case .noLoadableSegments: return "ELF file has no loadable segment"
        case .entryOutsideImage(let entry): return "entry point \(entry) is outside the loaded image"
        case .malformedNote(let offset): return "ELF note at offset \(offset) is malformed"
        case .invalidPVHEntry(let entry): return "PVH entry \(entry) is not a 32-bit address inside the image"
        case .bigEndianImage: return "big-endian arm64 Image is not supported"
        case .kernelOutsideMemory(let address, let length):
            return "kernel of \(length) bytes at \(address) does not fit guest memory"
        case .noRoomForInitrd(let size, let limit): return "no room for an initrd of \(size) bytes below \(limit)"
        case .commandLineTooLong(let length, let limit):
            return "command line of \(length) bytes exceeds the limit of \(limit)"
        case .tooManyE820Entries: return "more than 128 E820 entries"
        case .memory(let error): return error.description
        case .noSymbolTable: return "ELF file has no symbol table"
        case .invalidSectionHeaderSize(let size): return "ELF section header size \(size) is not 64"
        case .sectionBeyondFile(let index): return "ELF section \(index) reaches past the end of the file"
        case .invalidStringTableLink(let link): return "ELF symbol table links section \(link), not a string table"
        case .invalidSymbolEntrySize(let size): return "ELF symbol entry size \(size) is not 24"
        case .invalidSymbolTableSize(let size): return "ELF symbol table size \(size) is not a multiple of 24"
        case .symbolNameOutsideStringTable(let symbol):
            return "ELF symbol \(symbol) has a name outside the string table"
        case .unterminatedSymbolName(let symbol): return "ELF symbol \(symbol) has an unterminated name"
        case .symbolNameTooLong(let symbol):
            return "ELF symbol \(symbol) has a name longer than \(ELFSymbolTable.maximumNameLength) bytes"
        }
    }
}
