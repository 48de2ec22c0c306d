// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// Input handling shared by the Vhost fuzz targets.

/// Copies libFuzzer's input into an array.
func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    // SAFETY: libFuzzer guarantees `data` points at `size` readable bytes for the call.
    return Array(UnsafeBufferPointer(start: data, count: size))
}
