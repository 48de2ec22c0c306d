// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import VMMemory

/// libFuzzer entry: parse (and, when it parses, load) an ELF kernel — raw input when
/// the first byte is even, otherwise patches applied to a valid template with a PVH note.
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
    return 0
}
