// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// One named address from an ELF symbol table.
public struct ELFSymbol: Equatable, Sendable {
    /// The symbol's name (bytes that are not UTF-8 are replaced by U+FFFD).
    public var name: String
    /// `st_value`: the address (a kernel virtual address for `vmlinux`).
    public var address: UInt64
    /// `st_size`: bytes the symbol covers; 0 when the toolchain did not say (common for assembly).
    public var size: UInt64

    /// Describes a symbol.
    public init(name: String, address: UInt64, size: UInt64) {
        self.name = name
        self.address = address
        self.size = size
    }

    /// Compares names byte by byte: symbol names are bytes, not text, and byte
    /// comparison keeps Unicode tables out of Embedded builds.
    public static func == (lhs: ELFSymbol, rhs: ELFSymbol) -> Bool {
        lhs.address == rhs.address && lhs.size == rhs.size && lhs.name.utf8.elementsEqual(rhs.name.utf8)
    }
}

/// The symbol table (`SHT_SYMTAB`) of a 64-bit little-endian ELF file, sorted for
/// address lookups: what a profiler needs to turn a sampled guest kernel RIP into
/// `function+offset`.
///
/// Parsing reads the section headers, takes the first `SHT_SYMTAB` and the string
/// table its `sh_link` names, and keeps the function, object and untyped symbols that
/// have a nonzero address and are defined (not `SHN_UNDEF`). Every offset, size and
/// count comes from the file and is checked: the section headers and both tables lie
/// inside the file, entries are 24 bytes, every name starts inside the string table
/// and ends with a NUL within ``maximumNameLength`` bytes, and there are at most
/// ``maximumSymbols`` entries. Anything else is a typed ``LoaderError``.
///
/// ```swift
/// let table = try ELFSymbolTable(vmlinuxBytes)
/// if let found = table.symbol(containing: 0xffff_ffff_818e_b5c3) {
///     print("\(found.symbol.name)+\(found.offset)")  // start_kernel+1
/// }
/// ```
public struct ELFSymbolTable: Sendable {
    /// `SHT_SYMTAB`.
    public static let symbolTableType: UInt32 = 2
    /// `SHT_STRTAB`.
    public static let stringTableType: UInt32 = 3
    /// A symbol table with more entries than this is refused (the project's guest `vmlinux` has ~33,000).
    public static let maximumSymbols = 1 << 20
    /// More section headers than this is refused.
    public static let maximumSectionHeaders = 1 << 16
    /// A name longer than this many bytes (without its NUL) is refused; the kernel's
    /// own limit, `KSYM_NAME_LEN`, is 512 bytes with the NUL.
    public static let maximumNameLength = 512
    /// The farthest a symbol of size 0 reaches past its address in ``symbol(containing:)``
    /// (it never reaches the next symbol). Assembly entry points often carry no size; 64 KiB
    /// covers any of them while keeping a sample in a large unnamed region from being
    /// charged to the last label before it.
    public static let maximumUnsizedExtent: UInt64 = 0x1_0000

    /// The kept symbols, sorted by address; at one address, sized functions come first,
    /// then other sized symbols, then unsized ones, globals before locals, then file order.
    public let symbols: [ELFSymbol]

    /// Parses the symbol table of the ELF file `bytes`.
    public init(_ bytes: [UInt8]) throws(LoaderError) {
        let file = ImageBytes(bytes: bytes)
        try file.require(0, 64)
        guard bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else { throw .badMagic(.elf) }
        guard bytes[4] == 2, bytes[5] == 1 else { throw .unsupportedELFFormat(elfClass: bytes[4], encoding: bytes[5]) }
        let headers = try file.u64(40)  // e_shoff
        let headerSize = try file.u16(58)  // e_shentsize
        var count = UInt64(try file.u16(60))  // e_shnum
        guard headers != 0 else { throw .noSymbolTable }
        guard headerSize == 64 else { throw .invalidSectionHeaderSize(headerSize) }
        if count == 0 {
            // Extended numbering (65280 sections or more): the count is section 0's sh_size.
            try file.require(headers, 64)
            count = try file.u64(headers + 32)
        }
        guard count <= UInt64(Self.maximumSectionHeaders) else { throw .absurdSize(.sectionHeaderCount, count) }
        try file.require(headers, count * 64)

        // The first SHT_SYMTAB; ELF allows one per file.
        var found: UInt64?
        for index in 0..<count {
            if try file.u32(headers + index * 64 + 4) == Self.symbolTableType {
                found = index
                break
            }
        }
        guard let found else { throw .noSymbolTable }
        let link = UInt64(try file.u32(headers + found * 64 + 40))
        guard link < count, try file.u32(headers + link * 64 + 4) == Self.stringTableType else {
            throw .invalidStringTableLink(UInt32(link))
        }
        // Entry size and count first: they say what is wrong with an oversized table more
        // precisely than its extent past the end of the file would.
        let entrySize = try file.u64(headers + found * 64 + 56)
        guard entrySize == 24 else { throw .invalidSymbolEntrySize(entrySize) }
        let tableSize = try file.u64(headers + found * 64 + 32)
        guard tableSize % 24 == 0 else { throw .invalidSymbolTableSize(tableSize) }
        let entries = tableSize / 24
        guard entries <= UInt64(Self.maximumSymbols) else { throw .absurdSize(.symbolCount, entries) }
        let symbols = try Self.section(file, headers: headers, index: found)
        let strings = try Self.section(file, headers: headers, index: link)

        var kept: [ELFSymbol] = []
        var keys: [(address: UInt64, rank: UInt8, position: Int)] = []
        for index in 0..<Int(entries) {
            let entry = symbols.offset + UInt64(index) * 24
            let info = try file.u8(entry + 4)
            let type = info & 0xf
            let section = try file.u16(entry + 6)
            let address = try file.u64(entry + 8)
            // STT_NOTYPE, STT_OBJECT, STT_FUNC; defined (not SHN_UNDEF) at a nonzero address.
            guard type <= 2, section != 0, address != 0 else { continue }
            let size = try file.u64(entry + 16)
            let name = try Self.name(file, strings: strings, at: UInt64(try file.u32(entry)), symbol: index)
            // Lower ranks win at one address: sized functions, then sized others, then unsized,
            // and within each a global or weak name before a local one.
            let kind: UInt8 = size == 0 ? 2 : type == 2 ? 0 : 1
            let local: UInt8 = info >> 4 == 0 ? 1 : 0
            keys.append((address, kind << 1 | local, kept.count))
            kept.append(ELFSymbol(name: name, address: address, size: size))
        }
        keys.sort { ($0.address, $0.rank, $0.position) < ($1.address, $1.rank, $1.position) }
        var sorted: [ELFSymbol] = []
        sorted.reserveCapacity(kept.count)
        for key in keys { sorted.append(kept[key.position]) }
        self.symbols = sorted
    }

    /// Parses the symbol table of a kernel already checked by ``ELFKernel``.
    public init(elf: ELFKernel) throws(LoaderError) {
        try self.init(elf.bytes)
    }

    /// A section's `sh_offset` and `sh_size`, checked to lie inside the file.
    private static func section(
        _ file: ImageBytes, headers: UInt64, index: UInt64
    ) throws(LoaderError) -> (offset: UInt64, size: UInt64) {
        let offset = try file.u64(headers + index * 64 + 24)
        let size = try file.u64(headers + index * 64 + 32)
        let (end, overflow) = offset.addingReportingOverflow(size)
        guard !overflow, end <= file.count else { throw .sectionBeyondFile(index: Int(index)) }
        return (offset, size)
    }

    /// The NUL-terminated name at `offset` in the string table.
    private static func name(
        _ file: ImageBytes, strings: (offset: UInt64, size: UInt64), at offset: UInt64, symbol: Int
    ) throws(LoaderError) -> String {
        guard offset < strings.size else { throw .symbolNameOutsideStringTable(symbol: symbol) }
        // Both ends lie inside the file: the string table was checked against it.
        let start = Int(strings.offset + offset)
        let tableEnd = Int(strings.offset + strings.size)
        let limit = Swift.min(tableEnd, start + Self.maximumNameLength + 1)
        var end = start
        while end < limit, file.bytes[end] != 0 { end += 1 }
        guard end < limit else {
            if limit == tableEnd { throw .unterminatedSymbolName(symbol: symbol) }
            throw .symbolNameTooLong(symbol: symbol)
        }
        return String(decoding: file.bytes[start..<end], as: UTF8.self)
    }

    /// The symbol covering `address` and how far into it `address` lies.
    ///
    /// Looks at the nearest symbol at or below `address` (the first one at that address
    /// in ``symbols`` order). A sized symbol covers `[address, address + size)`; past its
    /// end there is no answer, since the gap is padding or code without a symbol. A symbol
    /// of size 0 covers everything up to the next symbol, but at most
    /// ``maximumUnsizedExtent`` bytes. Binary search: O(log n).
    ///
    /// ```swift
    /// if let found = table.symbol(containing: rip) { print("\(found.symbol.name)+\(found.offset)") }
    /// ```
    public func symbol(containing address: UInt64) -> (symbol: ELFSymbol, offset: UInt64)? {
        // The first symbol above `address`; the one before it is the nearest at or below.
        let above = firstIndex { $0 > address }
        guard above > 0 else { return nil }
        let start = symbols[above - 1].address
        let symbol = symbols[firstIndex { $0 >= start }]
        let offset = address - start
        let extent = symbol.size == 0 ? Self.maximumUnsizedExtent : symbol.size
        return offset < extent ? (symbol, offset) : nil
    }

    /// The first index whose address satisfies `predicate` (monotonic in address), or `symbols.count`.
    private func firstIndex(where predicate: (UInt64) -> Bool) -> Int {
        var low = 0
        var high = symbols.count
        while low < high {
            let middle = low + (high - low) / 2
            if predicate(symbols[middle].address) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
