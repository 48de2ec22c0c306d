// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Testing
import VMMSysUtil

@Suite("HostRandom")
struct HostRandomTests {
    @Test("fills a buffer completely and two fills differ")
    func fills() throws {
        let first = try HostRandom.bytes(4096)
        let second = try HostRandom.bytes(4096)
        #expect(first.count == 4096)
        #expect(first != second)
        // Every byte value should appear in 4 KiB of random data except with negligible probability.
        #expect(Set(first).count > 200)
        #expect(try HostRandom.bytes(0).isEmpty)
        var buffer = [UInt8](repeating: 0, count: 64)
        try buffer.withUnsafeMutableBytes { try HostRandom.fill($0) }
        #expect(buffer != [UInt8](repeating: 0, count: 64))
    }
}
