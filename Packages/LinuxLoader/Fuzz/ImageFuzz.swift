// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import VMMemory

/// libFuzzer entry: parse the input as an arm64 and as a riscv64 Image header and
/// load what parses — raw input when the first byte is even, else a patched template.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = inputBytes(data, size)
    guard let mode = input.first else { return 0 }
    var bytes = mode & 1 == 0 ? Array(input.dropFirst()) : patched(imageTemplate, with: input.dropFirst())
    do throws(LoaderError) {
        let header = try RiscV64ImageHeader(bytes)
        _ = try header.load(bytes, into: fuzzMemory, ramBase: GuestAddress(0))
    } catch {
        // A typed refusal is the expected outcome for most inputs.
    }
    if mode & 2 != 0 && bytes.count >= 64 {
        put(UInt32(0x644d_5241), at: 56, in: &bytes)  // give the arm64 parser its magic too
    }
    do throws(LoaderError) {
        let header = try Arm64ImageHeader(bytes)
        _ = try header.load(bytes, into: fuzzMemory, ramBase: GuestAddress(0))
    } catch {
        // A typed refusal is the expected outcome for most inputs.
    }
    return 0
}
