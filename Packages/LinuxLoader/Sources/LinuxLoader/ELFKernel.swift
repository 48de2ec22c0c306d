// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// One `PT_LOAD` segment of an ELF kernel.
public struct ELFSegment: Equatable, Sendable {
    /// Where the segment's bytes start in the file (`p_offset`).
    public var fileOffset: UInt64
    /// Bytes copied from the file (`p_filesz`).
    public var fileSize: UInt64
    /// Guest physical address (`p_paddr`: Linux links vmlinux with physical load addresses there).
    public var physicalAddress: UInt64
    /// Bytes the segment occupies in memory (`p_memsz`); the part past `fileSize` is zeroed.
    public var memorySize: UInt64

    /// Describes a segment.
    public init(fileOffset: UInt64, fileSize: UInt64, physicalAddress: UInt64, memorySize: UInt64) {
        self.fileOffset = fileOffset
        self.fileSize = fileSize
        self.physicalAddress = physicalAddress
        self.memorySize = memorySize
    }
}

/// A parsed 64-bit little-endian ELF kernel (an uncompressed `vmlinux`).
///
/// Checks the header, every program header (inside the file, `p_filesz <= p_memsz`,
/// no wrap past 2^64, no two loadable segments overlapping, no absurd sizes) and
/// the entry point (inside a loadable segment). Finds the PVH entry in the Xen
/// ELF note (`XEN_ELFNOTE_PHYS32_ENTRY`, type 18), which lets a VMM enter the
/// kernel in 32-bit protected mode with a `hvm_start_info` instead of a zero page.
///
/// ```swift
/// let kernel = try ELFKernel(bytes)
/// let loaded = try kernel.load(into: memory)
/// if let pvh = loaded.pvhEntry { print("PVH entry at \(pvh)") }
/// ```
public struct ELFKernel: Sendable {
    /// `PT_LOAD`.
    public static let loadType: UInt32 = 1
    /// `PT_NOTE`.
    public static let noteType: UInt32 = 4
    /// `XEN_ELFNOTE_PHYS32_ENTRY`.
    public static let xenPhys32EntryNote: UInt32 = 18
    /// More program headers than this is refused.
    public static let maximumProgramHeaders = 256
    /// A segment larger than this (in memory) is refused.
    public static let maximumSegmentSize: UInt64 = 1 << 32

    /// The whole file.
    public let bytes: [UInt8]
    /// `e_machine` (62 for x86_64, 183 for arm64, 243 for riscv64).
    public let machine: UInt16
    /// `e_entry`: the 64-bit entry point (physical for Linux's vmlinux).
    public let entry: UInt64
    /// The loadable segments, in file order.
    public let segments: [ELFSegment]
    /// The PVH 32-bit entry point from the Xen note, if present.
    public let pvhEntry: UInt64?

    /// Parses and checks `bytes`.
    public init(_ bytes: [UInt8]) throws(LoaderError) {
        let file = ImageBytes(bytes: bytes)
        try file.require(0, 64)
        guard bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else { throw .badMagic(.elf) }
        guard bytes[4] == 2, bytes[5] == 1 else { throw .unsupportedELFFormat(elfClass: bytes[4], encoding: bytes[5]) }
        let type = try file.u16(16)
        guard type == 2 || type == 3 else { throw .unsupportedELFType(type) }  // ET_EXEC or ET_DYN
        machine = try file.u16(18)
        entry = try file.u64(24)
        let programHeaders = try file.u64(32)
        let entrySize = try file.u16(54)
        let count = Int(try file.u16(56))
        guard entrySize == 56 else { throw .invalidProgramHeaderSize(entrySize) }
        guard count <= Self.maximumProgramHeaders else { throw .absurdSize(.programHeaderCount, UInt64(count)) }
        try file.require(programHeaders, UInt64(count) * 56)

        var segments: [ELFSegment] = []
        var indices: [Int] = []
        var pvhEntry: UInt64?
        for index in 0..<count {
            let header = programHeaders + UInt64(index) * 56
            let type = try file.u32(header)
            let offset = try file.u64(header + 8)
            let physical = try file.u64(header + 24)
            let fileSize = try file.u64(header + 32)
            let memorySize = try file.u64(header + 40)
            if type == Self.loadType || type == Self.noteType {
                let (end, overflow) = offset.addingReportingOverflow(fileSize)
                guard !overflow, end <= file.count else { throw .segmentBeyondFile(index: index) }
            }
            if type == Self.noteType, pvhEntry == nil {
                pvhEntry = try Self.findPVHEntry(file, offset: offset, size: fileSize)
            }
            guard type == Self.loadType else { continue }
            guard fileSize <= memorySize else { throw .segmentFileSizeExceedsMemorySize(index: index) }
            guard memorySize <= Self.maximumSegmentSize else { throw .absurdSize(.segmentMemorySize, memorySize) }
            guard memorySize == 0 || physical <= UInt64.max - (memorySize - 1) else {
                throw .segmentAddressOverflow(index: index)
            }
            if memorySize == 0 { continue }
            let segment = ELFSegment(
                fileOffset: offset, fileSize: fileSize, physicalAddress: physical, memorySize: memorySize)
            for (other, previous) in zip(indices, segments)
            where physical <= previous.physicalAddress + (previous.memorySize - 1)
                && previous.physicalAddress <= physical + (memorySize - 1)
            {
                throw .overlappingSegments(other, index)
            }
            segments.append(segment)
            indices.append(index)
        }
        guard !segments.isEmpty else { throw .noLoadableSegments }
        func inside(_ address: UInt64) -> Bool {
            segments.contains { address >= $0.physicalAddress && address - $0.physicalAddress < $0.memorySize }
        }
        guard inside(entry) else { throw .entryOutsideImage(entry) }
        if let pvhEntry {
            guard pvhEntry <= UInt64(UInt32.max), inside(pvhEntry) else { throw .invalidPVHEntry(pvhEntry) }
        }
        self.bytes = bytes
        self.segments = segments
        self.pvhEntry = pvhEntry
    }

    /// Walks the notes in `[offset, offset + size)` for the Xen PVH entry.
    static func findPVHEntry(_ file: ImageBytes, offset: UInt64, size: UInt64) throws(LoaderError) -> UInt64? {
        var cursor = offset
        let end = offset + size  // checked against the file by the caller
        func padded(_ value: UInt64) -> UInt64 { (value + 3) & ~3 }
        while cursor < end {
            guard end - cursor >= 12 else { throw .malformedNote(offset: cursor) }
            let nameSize = UInt64(try file.u32(cursor))
            let descriptorSize = UInt64(try file.u32(cursor + 4))
            let type = try file.u32(cursor + 8)
            // Both sizes are 32-bit, so the padded sums cannot overflow 64 bits.
            let name = cursor + 12
            let descriptor = name + padded(nameSize)
            let next = descriptor + padded(descriptorSize)
            guard next <= end else { throw .malformedNote(offset: cursor) }
            // Name "Xen\0".
            if type == ELFKernel.xenPhys32EntryNote, nameSize == 4, file.bytes[Int(name)] == 0x58,
                file.bytes[Int(name) + 1] == 0x65, file.bytes[Int(name) + 2] == 0x6e, file.bytes[Int(name) + 3] == 0
            {
                switch descriptorSize {
                case 4: return UInt64(try file.u32(descriptor))
                case 8: return try file.u64(descriptor)
                default: throw .malformedNote(offset: cursor)
                }
            }
            cursor = next
        }
        return nil
    }

    /// The lowest and one-past-highest guest addresses of the loadable segments.
    public var addressRange: (start: UInt64, end: UInt64) {
        let start = segments.map { $0.physicalAddress }.min() ?? 0
        let end = segments.map { $0.physicalAddress + $0.memorySize }.max() ?? 0
        return (start, end)
    }

    /// Copies every loadable segment to its physical address and zeroes the rest
    /// of its memory size, after checking that all of them fit guest memory.
    public func load(into memory: some GuestMemory) throws(LoaderError) -> LoadedKernel {
        for segment in segments {
            do throws(GuestMemoryError) {
                try memory.checkRange(at: GuestAddress(segment.physicalAddress), length: segment.memorySize)
            } catch {
                throw .kernelOutsideMemory(GuestAddress(segment.physicalAddress), length: segment.memorySize)
            }
        }
        for segment in segments {
            let start = Int(segment.fileOffset)
            try copy(
                bytes, start..<start + Int(segment.fileSize), to: GuestAddress(segment.physicalAddress), memory: memory)
            if segment.memorySize > segment.fileSize {
                do throws(GuestMemoryError) {
                    try memory.fill(
                        0, count: segment.memorySize - segment.fileSize,
                        at: GuestAddress(segment.physicalAddress + segment.fileSize))
                } catch {
                    throw .memory(error)
                }
            }
        }
        let range = addressRange
        return LoadedKernel(
            start: GuestAddress(range.start), end: GuestAddress(range.end), entry: GuestAddress(entry),
            pvhEntry: pvhEntry.map { GuestAddress($0) }, setupHeader: nil)
    }
}
