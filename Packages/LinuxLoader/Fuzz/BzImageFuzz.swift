// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import VMMemory

/// libFuzzer entry: parse (and, when it parses, load) a bzImage — raw input when
/// the first byte is even, otherwise patches applied to a valid template.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBzImage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = inputBytes(data, size)
    guard let mode = input.first else { return 0 }
    let bytes = mode & 1 == 0 ? Array(input.dropFirst()) : patched(bzImageTemplate, with: input.dropFirst())
    do throws(LoaderError) {
        let image = try BzImage(bytes)
        let kernel = try image.load(into: fuzzMemory)
        precondition(kernel.entry.rawValue == kernel.start.rawValue + 0x200, "64-bit entry must be load + 0x200")
        var params = BootParams(header: image.header)
        params.setCommandLine(at: GuestAddress(0x2_0000), size: 1)
        try params.write(to: fuzzMemory, at: GuestAddress(0x7000))
        _ = try? InitrdPlacement.highest(
            size: 0x1000, in: fuzzMemory, below: UInt64(image.header.initrdAddressMax), above: kernel.end)
    } catch {
        // A typed refusal is the expected outcome for most inputs.
    }
    return 0
}
