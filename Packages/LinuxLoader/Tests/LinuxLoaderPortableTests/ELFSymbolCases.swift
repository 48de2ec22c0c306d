// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import PortableTesting

/// A small kernel-like table: two sized functions, an unsized label, an object, an
/// absolute symbol and a last unsized label, plus entries the table must skip.
private let fixture: [TestSymbol] = [
    TestSymbol(name: utf8("file.c"), address: 0, type: 4, binding: 0, section: 0xfff1),
    TestSymbol(name: [], address: 0x100_0000, type: 3, binding: 0),  // STT_SECTION
    TestSymbol(name: utf8("start"), address: 0x100_0100, size: 0x40),
    TestSymbol(name: utf8("helper"), address: 0x100_0040, size: 0x20, binding: 0),
    TestSymbol(name: utf8("entry_label"), address: 0x100_0200, type: 0),
    TestSymbol(name: utf8("table"), address: 0x100_0300, size: 0x10, type: 1),
    TestSymbol(name: utf8("undefined"), address: 0x100_0500, section: 0),  // SHN_UNDEF
    TestSymbol(name: utf8("zero"), address: 0, size: 8),
    TestSymbol(name: utf8("tls"), address: 0x100_0600, size: 8, type: 6),  // STT_TLS
    TestSymbol(name: utf8("absolute"), address: 0x100_0700, type: 0, section: 0xfff1),  // SHN_ABS
    TestSymbol(name: utf8("last_label"), address: 0x100_0800, type: 0),
]

/// Parses `bytes`, failing the case on any error.
private func parse(_ bytes: [UInt8], line: UInt = #line) throws(TestFailure) -> ELFSymbolTable {
    try expectNoError(line: line) { () throws(LoaderError) in try ELFSymbolTable(bytes) }
}

/// Fails unless `address` resolves to the symbol named `name` at `offset`.
private func expectLookup(
    _ table: ELFSymbolTable, _ address: UInt64, _ name: StaticString, _ offset: UInt64, line: UInt = #line
) throws(TestFailure) {
    guard let found = table.symbol(containing: address) else {
        throw TestFailure("address did not resolve", file: #filePath, line: line)
    }
    try expectEqual(Array(found.symbol.name.utf8), utf8(name), "wrong symbol", line: line)
    try expectEqual(found.offset, offset, "wrong offset", line: line)
}

/// Fails unless `address` resolves to nothing.
private func expectNoLookup(_ table: ELFSymbolTable, _ address: UInt64, line: UInt = #line) throws(TestFailure) {
    try expect(table.symbol(containing: address) == nil, "address resolved", line: line)
}

/// The rule ``ELFSymbolTable/symbol(containing:)`` documents, by linear scan over the
/// unsorted input: the nearest address at or below, the preferred symbol there (sized
/// function, sized other, unsized; global or weak before local; file order), and its reach.
private func referenceLookup(_ symbols: [TestSymbol], _ address: UInt64) -> (index: Int, offset: UInt64)? {
    var best: (index: Int, rank: Int)?
    for (index, symbol) in symbols.enumerated()
    where symbol.type <= 2 && symbol.section != 0 && symbol.address != 0 && symbol.address <= address {
        let rank = (symbol.size == 0 ? 2 : symbol.type == 2 ? 0 : 1) * 2 + (symbol.binding == 0 ? 1 : 0)
        guard let current = best else {
            best = (index, rank)
            continue
        }
        let other = symbols[current.index]
        if symbol.address > other.address || (symbol.address == other.address && rank < current.rank) {
            best = (index, rank)
        }
    }
    guard let best else { return nil }
    let symbol = symbols[best.index]
    let offset = address - symbol.address
    let extent = symbol.size == 0 ? ELFSymbolTable.maximumUnsizedExtent : symbol.size
    return offset < extent ? (best.index, offset) : nil
}

let elfSymbolCases: [PortableTestCase] = [
    PortableTestCase("ELFSymbolTable", "keeps defined functions, objects and untyped symbols, sorted") {
        () throws(TestFailure) in
        let table = try parse(makeSymbolELF(fixture).bytes)
        try expectEqual(table.symbols.count, 6)
        let expected: [(StaticString, UInt64, UInt64)] = [
            ("helper", 0x100_0040, 0x20), ("start", 0x100_0100, 0x40), ("entry_label", 0x100_0200, 0),
            ("table", 0x100_0300, 0x10), ("absolute", 0x100_0700, 0), ("last_label", 0x100_0800, 0),
        ]
        for (symbol, (name, address, size)) in zip(table.symbols, expected) {
            try expectEqual(Array(symbol.name.utf8), utf8(name))
            try expectEqual(symbol.address, address)
            try expectEqual(symbol.size, size)
        }
        try expect(
            table.symbols[1] == ELFSymbol(name: "start", address: 0x100_0100, size: 0x40), "ELFSymbol equality")
        try expect(table.symbols[1] != ELFSymbol(name: "starts", address: 0x100_0100, size: 0x40))
        try expect(table.symbols[1] != ELFSymbol(name: "start", address: 0x100_0100, size: 0x41))
    },
    PortableTestCase("ELFSymbolTable", "a sized symbol covers exactly its bytes") { () throws(TestFailure) in
        let table = try parse(makeSymbolELF(fixture).bytes)
        try expectNoLookup(table, 0)
        try expectNoLookup(table, 0x100_003f)
        try expectLookup(table, 0x100_0040, "helper", 0)
        try expectLookup(table, 0x100_005f, "helper", 0x1f)
        try expectNoLookup(table, 0x100_0060)  // padding after helper
        try expectNoLookup(table, 0x100_00ff)
        try expectLookup(table, 0x100_0101, "start", 1)
        try expectLookup(table, 0x100_013f, "start", 0x3f)
        try expectNoLookup(table, 0x100_0140)
        try expectLookup(table, 0x100_030f, "table", 0xf)
        try expectNoLookup(table, 0x100_0310)
    },
    PortableTestCase("ELFSymbolTable", "an unsized symbol reaches the next symbol, at most 64 KiB") {
        () throws(TestFailure) in
        let table = try parse(makeSymbolELF(fixture).bytes)
        try expectLookup(table, 0x100_0200, "entry_label", 0)
        try expectLookup(table, 0x100_02ff, "entry_label", 0xff)
        try expectLookup(table, 0x100_0300, "table", 0)
        try expectLookup(table, 0x100_07ff, "absolute", 0xff)
        let extent = ELFSymbolTable.maximumUnsizedExtent
        try expectEqual(extent, 0x1_0000)
        try expectLookup(table, 0x100_0800 + extent - 1, "last_label", extent - 1)
        try expectNoLookup(table, 0x100_0800 + extent)
        try expectNoLookup(table, UInt64.max)
        // Far from the previous symbol, an unsized label does not reach the next one either.
        let gap = try parse(
            makeSymbolELF([
                TestSymbol(name: utf8("low"), address: 0x1000, type: 0),
                TestSymbol(name: utf8("high"), address: 0x100_0000, size: 4),
            ]).bytes)
        try expectLookup(gap, 0x1000 + extent - 1, "low", extent - 1)
        try expectNoLookup(gap, 0x1000 + extent)
        try expectLookup(gap, 0x100_0003, "high", 3)
    },
    PortableTestCase("ELFSymbolTable", "at one address sized functions win, then globals, then file order") {
        () throws(TestFailure) in
        let table = try parse(
            makeSymbolELF([
                TestSymbol(name: utf8("before"), address: 0x100_0f00, size: 0x10),
                TestSymbol(name: utf8("label"), address: 0x100_1000, type: 0, binding: 0),
                TestSymbol(name: utf8("object"), address: 0x100_1000, size: 8, type: 1),
                TestSymbol(name: utf8("local_func"), address: 0x100_1000, size: 0x10, binding: 0),
                TestSymbol(name: utf8("global_func"), address: 0x100_1000, size: 0x10),
                TestSymbol(name: utf8("weak_func"), address: 0x100_1000, size: 0x20, binding: 2),
                TestSymbol(name: utf8("a_label"), address: 0x100_2000, type: 0, binding: 0),
                TestSymbol(name: utf8("b_label"), address: 0x100_2000, type: 0),
            ]).bytes)
        let order: [StaticString] = [
            "before", "global_func", "weak_func", "local_func", "object", "label", "b_label", "a_label",
        ]
        try expectEqual(table.symbols.count, order.count)
        for (symbol, name) in zip(table.symbols, order) { try expectEqual(Array(symbol.name.utf8), utf8(name)) }
        try expectLookup(table, 0x100_1004, "global_func", 4)
        // The preferred symbol's size decides, even though weak_func (later) is larger.
        try expectNoLookup(table, 0x100_1010)
        try expectLookup(table, 0x100_2010, "b_label", 0x10)
    },
    PortableTestCase("ELFSymbolTable", "lookups agree with a linear scan on random tables") {
        () throws(TestFailure) in
        var random = SplitMix64(seed: 29)
        for _ in 0..<20 {
            var symbols: [TestSymbol] = []
            for index in 0..<(1 + Int(random.next() % 60)) {
                let address = random.next() % 4 == 0 ? 0 : 0x1000 + (random.next() % 0x40) * 0x10
                let size = random.next() % 3 == 0 ? 0 : 1 + random.next() % 0x30
                symbols.append(
                    TestSymbol(
                        name: [0x73, 0x41 + UInt8(index)], address: address, size: size,
                        type: UInt8(random.next() % 5), binding: UInt8(random.next() % 3),
                        section: random.next() % 6 == 0 ? 0 : 1))
            }
            let table = try parse(makeSymbolELF(symbols).bytes)
            for (previous, next) in zip(table.symbols, table.symbols.dropFirst()) {
                try expect(previous.address <= next.address, "not sorted by address")
            }
            for _ in 0..<80 {
                let address = random.next() % 4 == 0 ? random.next() : 0xff0 + random.next() % 0x500
                let found = table.symbol(containing: address)
                guard let expected = referenceLookup(symbols, address) else {
                    try expect(found == nil, "resolved where the linear scan finds nothing")
                    continue
                }
                guard let found else { throw TestFailure("did not resolve", file: #filePath, line: #line) }
                try expectEqual(Array(found.symbol.name.utf8), symbols[expected.index].name)
                try expectEqual(found.offset, expected.offset)
            }
        }
    },
    PortableTestCase("ELFSymbolTable", "reads the symbols of a checked ELFKernel") { () throws(TestFailure) in
        let image = makeSymbolELF(fixture).bytes
        let kernel = try expectNoError { () throws(LoaderError) in try ELFKernel(image) }
        let table = try expectNoError { () throws(LoaderError) in try ELFSymbolTable(elf: kernel) }
        try expectEqual(table.symbols, try parse(image).symbols)
        try expectEqual(table.symbols.count, 6)
        // A table holding only the null symbol is empty, not an error.
        let empty = try parse(makeSymbolELF([]).bytes)
        try expectEqual(empty.symbols.count, 0)
        try expectNoLookup(empty, 0x100_0000)
    },
    PortableTestCase("ELFSymbolTable", "names: empty, replaced bytes, 512 bytes accepted, 513 refused") {
        () throws(TestFailure) in
        var image = makeSymbolELF([
            TestSymbol(name: [0x61, 0xff], address: 0x2000),
            TestSymbol(name: [UInt8](repeating: 0x6e, count: 512), address: 0x3000),
            TestSymbol(name: utf8("unnamed"), address: 0x4000),
        ])
        image.bytes.put(UInt32(0), at: image.symbol(3))  // st_name 0: the table's leading NUL
        let table = try parse(image.bytes)
        try expectEqual(Array(table.symbols[0].name.utf8), [0x61, 0xef, 0xbf, 0xbd])  // U+FFFD
        try expectEqual(table.symbols[1].name.utf8.count, ELFSymbolTable.maximumNameLength)
        try expectEqual(table.symbols[2].name.utf8.count, 0)
        let long = makeSymbolELF([
            TestSymbol(name: utf8("fine"), address: 0x2000),
            TestSymbol(name: [UInt8](repeating: 0x6e, count: 513), address: 0x3000),
        ])
        try expectError(.symbolNameTooLong(symbol: 2)) { () throws(LoaderError) in _ = try ELFSymbolTable(long.bytes) }
        // A skipped symbol's name is never read, so it cannot make the table fail.
        var skipped = makeSymbolELF([TestSymbol(name: utf8("undefined"), address: 0x2000, section: 0)])
        skipped.bytes.put(UInt32(0xffff_ffff), at: skipped.symbol(1))
        try expectEqual(try parse(skipped.bytes).symbols.count, 0)
    },
    PortableTestCase("ELFSymbolTable", "a file without a symbol table is refused") { () throws(TestFailure) in
        try expectError(.noSymbolTable) { () throws(LoaderError) in _ = try ELFSymbolTable(makeELF()) }
        var image = makeSymbolELF(fixture)
        image.bytes.put(UInt32(1), at: image.header(2) + 4)  // .symtab becomes PROGBITS
        try expectError(.noSymbolTable) { () throws(LoaderError) in _ = try ELFSymbolTable(image.bytes) }
        image = makeSymbolELF(fixture)
        image.bytes.put(UInt16(0), at: 60)  // extended numbering, section 0's sh_size is 0
        try expectError(.noSymbolTable) { () throws(LoaderError) in _ = try ELFSymbolTable(image.bytes) }
        try expectError(.badMagic(.elf)) { () throws(LoaderError) in _ = try ELFSymbolTable(makeBzImage()) }
        var wide = makeSymbolELF(fixture).bytes
        wide[4] = 1
        try expectError(.unsupportedELFFormat(elfClass: 1, encoding: 1)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(wide)
        }
    },
    PortableTestCase("ELFSymbolTable", "refuses truncated and misplaced section headers") { () throws(TestFailure) in
        let original = makeSymbolELF(fixture)
        let size = UInt64(original.bytes.count)
        var image = original
        image.bytes.put(size - 100, at: 40)
        try expectError(.truncated(offset: size - 100, length: 256, size: size)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
        image.bytes.put(UInt64.max - 8, at: 40)
        try expectError(.truncated(offset: UInt64.max - 8, length: 256, size: size)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
        image.bytes.put(UInt16(0), at: 60)  // extended numbering reads section 0 past 2^64
        try expectError(.truncated(offset: UInt64.max - 8, length: 64, size: size)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
        image = original
        image.bytes.put(UInt16(40), at: 58)
        try expectError(.invalidSectionHeaderSize(40)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
        image = original
        image.bytes.put(UInt16(0xffff), at: 60)
        try expectError(.truncated(offset: UInt64(original.sectionHeaders), length: 0xffff * 64, size: size)) {
            () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
        // Extended numbering: section 0's sh_size holds the count.
        image = original
        image.bytes.put(UInt16(0), at: 60)
        image.bytes.put(UInt64(4), at: image.header(0) + 32)
        try expectEqual(try parse(image.bytes).symbols, try parse(original.bytes).symbols)
        image.bytes.put(UInt64(1) << 40, at: image.header(0) + 32)
        try expectError(.absurdSize(.sectionHeaderCount, 1 << 40)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
    },
    PortableTestCase("ELFSymbolTable", "refuses symbol and string tables outside the file or misnamed") {
        () throws(TestFailure) in
        let original = makeSymbolELF(fixture)
        let size = UInt64(original.bytes.count)
        var image = original
        image.bytes.put(size - 24, at: image.header(2) + 24)  // .symtab starts one entry before EOF
        try expectError(.sectionBeyondFile(index: 2)) { () throws(LoaderError) in _ = try ELFSymbolTable(image.bytes) }
        image.bytes.put(UInt64.max - 23, at: image.header(2) + 24)  // and wraps past 2^64
        try expectError(.sectionBeyondFile(index: 2)) { () throws(LoaderError) in _ = try ELFSymbolTable(image.bytes) }
        image = original
        image.bytes.put(size, at: image.header(3) + 32)  // .strtab runs past EOF
        try expectError(.sectionBeyondFile(index: 3)) { () throws(LoaderError) in _ = try ELFSymbolTable(image.bytes) }
        for link: UInt32 in [9, 0xffff_ffff, 2, 1, 0] {
            image = original
            image.bytes.put(link, at: image.header(2) + 40)
            try expectError(.invalidStringTableLink(link)) { () throws(LoaderError) in
                _ = try ELFSymbolTable(image.bytes)
            }
        }
    },
    PortableTestCase("ELFSymbolTable", "refuses wrong entry sizes and absurd counts") { () throws(TestFailure) in
        let original = makeSymbolELF(fixture)
        for entrySize: UInt64 in [0, 16, 25, UInt64.max] {
            var image = original
            image.bytes.put(entrySize, at: image.header(2) + 56)
            try expectError(.invalidSymbolEntrySize(entrySize)) { () throws(LoaderError) in
                _ = try ELFSymbolTable(image.bytes)
            }
        }
        var image = original
        let tableSize = UInt64(24 * (fixture.count + 1))
        image.bytes.put(tableSize - 5, at: image.header(2) + 32)
        try expectError(.invalidSymbolTableSize(tableSize - 5)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
        let tooMany = UInt64(ELFSymbolTable.maximumSymbols + 1)
        image.bytes.put(tooMany * 24, at: image.header(2) + 32)
        try expectError(.absurdSize(.symbolCount, tooMany)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
        let largest = UInt64.max / 24
        image.bytes.put(largest * 24, at: image.header(2) + 32)
        try expectError(.absurdSize(.symbolCount, largest)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
    },
    PortableTestCase("ELFSymbolTable", "refuses names outside the string table or unterminated") {
        () throws(TestFailure) in
        let original = makeSymbolELF(fixture)
        let stringSize = original.bytes.get(UInt64.self, at: original.header(3) + 32)
        var image = original
        image.bytes.put(UInt32(stringSize), at: image.symbol(3))  // "start": one past the table
        try expectError(.symbolNameOutsideStringTable(symbol: 3)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
        image.bytes.put(UInt32.max, at: image.symbol(3))
        try expectError(.symbolNameOutsideStringTable(symbol: 3)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
        image = original
        image.bytes.put(stringSize - 1, at: image.header(3) + 32)  // cuts "last_label"'s NUL
        try expectError(.unterminatedSymbolName(symbol: fixture.count)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
        image = original
        image.bytes.put(UInt64(0), at: image.header(3) + 32)  // an empty string table holds no name
        try expectError(.symbolNameOutsideStringTable(symbol: 3)) { () throws(LoaderError) in
            _ = try ELFSymbolTable(image.bytes)
        }
    },
    PortableTestCase("ELFSymbolTable", "every truncation is a typed error") { () throws(TestFailure) in
        let image = makeSymbolELF(fixture).bytes
        // The section headers are last, so every shorter file lacks some of them.
        for length in stride(from: 0, to: image.count, by: 37) {
            try expectRefused { () throws(LoaderError) in _ = try ELFSymbolTable(Array(image[0..<length])) }
        }
        try expectRefused { () throws(LoaderError) in _ = try ELFSymbolTable(Array(image.dropLast())) }
    },
    PortableTestCase("ELFSymbolTable", "random corruption never traps") { () throws(TestFailure) in
        var random = SplitMix64(seed: 41)
        let original = makeSymbolELF(fixture)
        // The ELF header fields, the symbol and string tables, and the section headers.
        let regions = [
            (40, 24), (original.stringTable, original.symbolTable - original.stringTable),
            (original.symbolTable, 24 * (fixture.count + 1)), (original.sectionHeaders, 4 * 64),
        ]
        var refused = 0
        var parsed = 0
        for _ in 0..<600 {
            var image = original.bytes
            for _ in 0..<(1 + random.next() % 3) {
                let (start, length) = regions[Int(random.next() % UInt64(regions.count))]
                image[start + Int(random.next() % UInt64(length))] = UInt8(truncatingIfNeeded: random.next())
            }
            let table: ELFSymbolTable
            do throws(LoaderError) {
                table = try ELFSymbolTable(image)
            } catch {
                refused += 1
                continue
            }
            parsed += 1
            for (previous, next) in zip(table.symbols, table.symbols.dropFirst()) {
                try expect(previous.address <= next.address, "not sorted by address")
            }
            for symbol in table.symbols {
                try expect(symbol.address != 0, "kept a symbol at address 0")
                try expect(symbol.name.utf8.count <= 3 * ELFSymbolTable.maximumNameLength, "name too long")
                for address in [symbol.address, symbol.address &+ random.next() % 0x2_0000] {
                    guard let found = table.symbol(containing: address) else { continue }
                    try expectEqual(found.symbol.address &+ found.offset, address, "offset does not add up")
                    try expect(found.offset < max(found.symbol.size, ELFSymbolTable.maximumUnsizedExtent))
                }
            }
        }
        try expect(refused > 0, "no corruption was refused (the test lost its power)")
        try expect(parsed > 0, "every corruption was refused (the test lost its power)")
    },
]
