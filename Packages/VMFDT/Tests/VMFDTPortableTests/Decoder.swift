// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMFDT

/// The bytes of a static string (byte comparison keeps Unicode tables out of riscv64 builds).
func utf8(_ text: StaticString) -> [UInt8] {
    Array(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
}

func bigEndian32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
        | UInt32(bytes[offset + 3])
}

/// A small independent DTB reader for the cases: header checks and every property by path.
struct DecodedFDT {
    struct Property {
        var path: [UInt8]
        var name: [UInt8]
        var value: [UInt8]
    }
    var totalSize: UInt32
    var version: UInt32
    var reservations: [(UInt64, UInt64)] = []
    var properties: [Property] = []
    var nodes: [[UInt8]] = []

    init(_ blob: [UInt8]) throws(TestFailure) {
        try expect(blob.count >= 40, "blob shorter than the header")
        try expectEqual(bigEndian32(blob, 0), 0xd00d_feed, "magic")
        totalSize = bigEndian32(blob, 4)
        try expectEqual(Int(totalSize), blob.count, "totalsize")
        let structure = Int(bigEndian32(blob, 8))
        let strings = Int(bigEndian32(blob, 12))
        var reservation = Int(bigEndian32(blob, 16))
        version = bigEndian32(blob, 20)
        try expectEqual(bigEndian32(blob, 24), 16, "last_comp_version")
        try expectEqual(Int(bigEndian32(blob, 32)), blob.count - strings, "size_dt_strings")
        try expectEqual(Int(bigEndian32(blob, 36)), strings - structure, "size_dt_struct")
        try expectEqual(reservation % 8, 0, "reservation block alignment")
        while true {
            let address = UInt64(bigEndian32(blob, reservation)) << 32 | UInt64(bigEndian32(blob, reservation + 4))
            let size = UInt64(bigEndian32(blob, reservation + 8)) << 32 | UInt64(bigEndian32(blob, reservation + 12))
            reservation += 16
            if address == 0 && size == 0 { break }
            reservations.append((address, size))
        }
        var cursor = structure
        var path: [[UInt8]] = []
        func align() { cursor = (cursor + 3) & ~3 }
        loop: while cursor < strings {
            let token = bigEndian32(blob, cursor)
            cursor += 4
            switch token {
            case 1:
                var name: [UInt8] = []
                while blob[cursor] != 0 {
                    name.append(blob[cursor])
                    cursor += 1
                }
                cursor += 1
                align()
                path.append(name)
                nodes.append(Self.join(path))
            case 2:
                try expect(!path.isEmpty, "END_NODE without BEGIN_NODE")
                path.removeLast()
            case 3:
                let length = Int(bigEndian32(blob, cursor))
                var nameOffset = strings + Int(bigEndian32(blob, cursor + 4))
                cursor += 8
                var name: [UInt8] = []
                while blob[nameOffset] != 0 {
                    name.append(blob[nameOffset])
                    nameOffset += 1
                }
                properties.append(
                    Property(path: Self.join(path), name: name, value: Array(blob[cursor..<cursor + length])))
                cursor += length
                align()
            case 9:
                break loop
            default:
                throw TestFailure("unknown structure token", file: #filePath, line: #line)
            }
        }
        try expect(path.isEmpty, "unbalanced nodes")
    }

    static func join(_ path: [[UInt8]]) -> [UInt8] {
        if path.count <= 1 { return [0x2f] }
        var result: [UInt8] = []
        for component in path.dropFirst() { result += [0x2f] + component }
        return result
    }

    func value(_ path: StaticString, _ name: StaticString) -> [UInt8]? {
        let wantedPath = utf8(path)
        let wantedName = utf8(name)
        return properties.first { $0.path == wantedPath && $0.name == wantedName }?.value
    }

    func u32s(_ path: StaticString, _ name: StaticString) -> [UInt32] {
        guard let value = value(path, name) else { return [] }
        return stride(from: 0, to: value.count, by: 4).map { bigEndian32(value, $0) }
    }

    func hasNode(_ path: StaticString) -> Bool { nodes.contains(utf8(path)) }
}
