// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import VMMemory

/// libFuzzer entry: parse (and, when it parses, load) an ELF kernel and read its symbol
/// table — raw input when the first byte is even, otherwise patches applied to a valid
/// template with a PVH note and a symbol table.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzELF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = inputBytes(data, size)
    guard let mode = input.first else { return 0 }
    let bytes = mode & 1 == 0 ? Array(input.dropFirst()) : patched(elfTemplate, with: input.dropFirst())
    do throws(LoaderError) {
        let kernel = try ELFKernel(bytes)
        let loaded = try kernel.load(into: fuzzMemory)
        precondition(loaded.start.rawValue <= loaded.entry.rawValue && loaded.entry.rawValue < loaded.end.rawValue)
        if let pvh = loaded.pvhEntry { precondition(pvh.rawValue <= UInt64(UInt32.max)) }
    } catch {
        // A typed refusal is the expected outcome for most inputs.
    }
    do throws(LoaderError) {
        let table = try ELFSymbolTable(bytes)
        var previous: UInt64 = 0
        for symbol in table.symbols {
            precondition(symbol.address != 0 && symbol.address >= previous)
            previous = symbol.address
            // A symbol's own address always resolves, to a symbol there, at offset 0.
            let found = table.symbol(containing: symbol.address)
            precondition(found?.symbol.address == symbol.address && found?.offset == 0)
            if let inside = table.symbol(containing: symbol.address &+ 0x123) {
                precondition(inside.symbol.address &+ inside.offset == symbol.address &+ 0x123)
            }
        }
    } catch {
        // As above.
    }
    return 0
}
