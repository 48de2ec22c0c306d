// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import VMMemory

/// libFuzzer entry: drive a ``KernelCommandLine`` with operations decoded from the
/// input and check its invariants after each: within capacity, no NUL or control
/// byte, unchanged after a refused operation.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCommandLine(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = inputBytes(data, size)
    guard input.count >= 2 else { return 0 }
    var line = KernelCommandLine(capacity: Int(input[0]) + 1)
    var cursor = 1
    func take(_ count: Int) -> [UInt8] {
        let end = Swift.min(input.count, cursor + count)
        defer { cursor = end }
        return Array(input[cursor..<end])
    }
    while cursor < input.count {
        let operation = take(1)[0]
        let keyLength = Int(operation >> 4)
        let valueLength = Int(operation & 0xf)
        let key = String(decoding: take(keyLength), as: UTF8.self)
        let value = String(decoding: take(valueLength), as: UTF8.self)
        let before = line
        do throws(CommandLineError) {
            switch operation % 3 {
            case 0: try line.append(flag: key)
            case 1: try line.append(key, value)
            default:
                let numbers = take(8)
                let base = numbers.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                try line.appendVirtioMMIODevice(
                    size: UInt64(keyLength) << (valueLength % 31), base: base, irq: UInt32(operation),
                    id: operation & 8 == 0 ? nil : UInt32(valueLength))
            }
        } catch {
            precondition(line == before, "a refused argument changed the line")
        }
        precondition(line.nulTerminated.count <= line.capacity, "line exceeds its capacity")
        precondition(!line.bytes.contains { $0 < 0x20 && $0 != 0x20 }, "control byte in the line")
    }
    if line.nulTerminated.count <= 4096 { _ = try? line.write(to: fuzzMemory, at: GuestAddress(0x2_0000)) }
    return 0
}
