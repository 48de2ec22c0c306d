// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMDevice

/// A device that counts accesses and answers with its tag and the offset. The
/// portable cases are single-threaded, hence the unchecked sendability.
final class TaggedDevice: BusDevice, @unchecked Sendable {
    let tag: UInt64
    var reads = 0
    var writes = 0
    var written: UInt64 = 0
    init(tag: UInt64) { self.tag = tag }
    func read(offset: UInt64, size: Int) -> UInt64 {
        reads += 1
        return tag << 32 | offset
    }
    func write(offset: UInt64, size: Int, value: UInt64) {
        writes += 1
        written &+= value
    }
}

/// The outcome of a bus operation, for cases that expect either.
func attempt<T>(_ body: () throws(BusError) -> T) -> Result<T, BusError> {
    do throws(BusError) {
        return .success(try body())
    } catch {
        return .failure(error)
    }
}

extension SplitMix64 {
    /// A value in `0..<bound` (modulo bias is irrelevant for test inputs).
    mutating func below(_ bound: UInt64) -> UInt64 { next() % bound }
}
