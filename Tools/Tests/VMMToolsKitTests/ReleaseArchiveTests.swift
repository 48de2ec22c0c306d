// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

/// A temporary folder removed when the value goes away.
final class ReleaseScratch: Sendable {
    let url: URL

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("release-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ relative: String) -> URL { url.appendingPathComponent(relative) }

    func write(_ relative: String, _ text: String) throws {
        let file = path(relative)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: file, atomically: true, encoding: .utf8)
    }
}

@Suite struct ReleaseArchiveTests {
    @Test func crcAndDigestMatchKnownVectors() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func writesDeterministicArchivesThatUnzipReads() throws {
        let scratch = try ReleaseScratch("zip")
        try scratch.write("Pkg/Package.swift", "// swift-tools-version: 6.1\n")
        try scratch.write("Pkg/Sources/Pkg/Pkg.swift", "public let x = 1\n")
        try scratch.write("Pkg/run.sh", "#!/bin/sh\necho hi\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: scratch.path("Pkg/run.sh").path)
        let entries = try ZipArchive.entries(fromDirectory: scratch.path("Pkg"), prefix: "Pkg")
        #expect(
            entries.map(\.path) == [
                "Pkg/", "Pkg/Package.swift", "Pkg/Sources/", "Pkg/Sources/Pkg/", "Pkg/Sources/Pkg/Pkg.swift",
                "Pkg/run.sh",
            ])
        let stamp = Date(timeIntervalSince1970: 1_777_777_777)
        let bytes = try ZipArchive.write(entries, modified: stamp)
        #expect(try ZipArchive.write(entries, modified: stamp) == bytes)
        #expect(try ZipArchive.read(bytes) == entries)

        // The system's unzip (what SwiftPM extracts registry archives with on Linux) agrees.
        let archive = scratch.path("out.zip")
        try Data(bytes).write(to: archive)
        let test = try ProcessRunner.run(["unzip", "-t", archive.path])
        #expect(test.succeeded, "\(test.output)")
        let extracted = scratch.path("x")
        #expect(try ProcessRunner.run(["unzip", "-q", archive.path, "-d", extracted.path]).succeeded)
        #expect(
            try String(contentsOf: extracted.appendingPathComponent("Pkg/Sources/Pkg/Pkg.swift"), encoding: .utf8)
                == "public let x = 1\n")
        #expect(FileManager.default.isExecutableFile(atPath: extracted.appendingPathComponent("Pkg/run.sh").path))
    }

    @Test func readsDeflatedArchivesMadeByZip() throws {
        let scratch = try ReleaseScratch("deflate")
        var text = "// swift-tools-version: 6.1\n"
        for index in 0..<2000 { text += "line \(index % 37) of a compressible file \(index % 5)\n" }
        try scratch.write("P/Package.swift", text)
        try scratch.write("P/empty.txt", "")
        var random = SplitMixBytes(seed: 7)
        try Data(random.next(count: 50_000)).write(to: scratch.path("P/random.bin"))
        let result = try ProcessRunner.run(["zip", "-r", "-9", "-q", "a.zip", "P"], in: scratch.url)
        #expect(result.succeeded, "\(result.output)")
        let bytes = Array(try Data(contentsOf: scratch.path("a.zip")))
        let entries = try ZipArchive.read(bytes)
        #expect(entries.first { $0.path == "P/Package.swift" }?.contents == Array(text.utf8))
        #expect(entries.first { $0.path == "P/empty.txt" }?.contents == [])
        #expect(
            entries.first { $0.path == "P/random.bin" }?.contents
                == Array(try Data(contentsOf: scratch.path("P/random.bin"))))
        #expect(bytes.count < text.utf8.count + 50_000)  // it really was compressed
        // The registry finds the manifest inside such an archive.
        #expect(try RegistryService.manifests(in: bytes)["Package.swift"] == text)
    }

    @Test func refusesUnsafePathsAndSymlinks() throws {
        for path in ["../evil", "/etc/passwd", "a/../../b", "a\\b", "", "a//b", "./a"] {
            let error = #expect(throws: ReleaseError.self) { try ZipArchive.write([ZipEntry(path: path, mode: 0o644)]) }
            #expect(error?.kind == .archive)
        }
        let scratch = try ReleaseScratch("link")
        try scratch.write("P/a.txt", "a")
        try FileManager.default.createSymbolicLink(atPath: scratch.path("P/link").path, withDestinationPath: "/etc")
        #expect(throws: ReleaseError.self) { try ZipArchive.entries(fromDirectory: scratch.path("P"), prefix: "P") }
    }

    @Test func hostileArchivesAreRejectedWithoutCrashing() throws {
        let good = try ZipArchive.write([
            ZipEntry(path: "P/", mode: 0o755),
            ZipEntry(path: "P/Package.swift", mode: 0o644, contents: Array("// swift-tools-version: 6.1\n".utf8)),
        ])
        #expect(try ZipArchive.read(good).count == 2)
        // Truncations and single-byte corruptions anywhere.
        for length in stride(from: 0, to: good.count, by: 3) {
            _ = try? ZipArchive.read(Array(good.prefix(length)))
        }
        for index in good.indices {
            for value: UInt8 in [0x00, 0xFF, 0x7F] {
                var bad = good
                bad[index] = value
                _ = try? ZipArchive.read(bad)
                _ = try? RegistryService.manifests(in: bad)
            }
        }
        // A CRC mismatch is caught.
        var corrupt = good
        let content = Array("swift-tools-version".utf8)
        if let offset = (0..<(corrupt.count - content.count)).first(where: {
            Array(corrupt[$0..<($0 + content.count)]) == content
        }) {
            corrupt[offset] ^= 0x20
        }
        let error = #expect(throws: ReleaseError.self) { try ZipArchive.read(corrupt) }
        #expect(error?.description.contains("CRC") == true)
        // Random garbage.
        var random = SplitMixBytes(seed: 99)
        for _ in 0..<200 { _ = try? ZipArchive.read(random.next(count: Int(random.next(count: 1)[0]) * 4)) }
    }

    @Test func entryLimitsBoundTheOutput() throws {
        let big = [UInt8](repeating: 0x41, count: 10_000)
        let bytes = try ZipArchive.write([ZipEntry(path: "P/big", mode: 0o644, contents: big)])
        let small = ZipArchive.Limits(maxEntries: 10, maxEntryBytes: 1000, maxTotalBytes: 1000)
        #expect(throws: ReleaseError.self) { try ZipArchive.read(bytes, limits: small) }
        let few = ZipArchive.Limits(maxEntries: 0, maxEntryBytes: 1 << 20, maxTotalBytes: 1 << 20)
        #expect(throws: ReleaseError.self) { try ZipArchive.read(bytes, limits: few) }
    }

    @Test func inflateRejectsMalformedStreams() throws {
        // Block type 3 is reserved.
        #expect(throws: ReleaseError.self) { try Inflate.decompress([0x07], limit: 100) }
        // A stored block whose length check fails.
        #expect(throws: ReleaseError.self) { try Inflate.decompress([0x01, 0x05, 0x00, 0x00, 0x00], limit: 100) }
        // A stored block of 5 bytes, within and beyond the limit.
        let stored: [UInt8] = [0x01, 0x05, 0x00, 0xFA, 0xFF] + Array("hello".utf8)
        #expect(try Inflate.decompress(stored, limit: 5) == Array("hello".utf8))
        #expect(throws: ReleaseError.self) { try Inflate.decompress(stored, limit: 4) }
        // Fixed Huffman: "a", then 1000 copies of (length 258, distance 1), then end of block —
        // 258,001 bytes from 1 KB, which the limit must stop.
        var writer = BitWriter()
        writer.bits(1, 1)
        writer.bits(1, 2)
        writer.code(0x30 + 97, 8)
        for _ in 0..<1000 {
            writer.code(0xC0 + 5, 8)
            writer.code(0, 5)
        }
        writer.code(0, 7)
        let expanded = try Inflate.decompress(writer.bytes, limit: 1 << 20)
        #expect(expanded.count == 258_001 && expanded.allSatisfy { $0 == 97 })
        #expect(throws: ReleaseError.self) { try Inflate.decompress(writer.bytes, limit: 100_000) }
        // A distance reaching before the start of the output.
        var early = BitWriter()
        early.bits(1, 1)
        early.bits(1, 2)
        early.code(0xC0 + 5, 8)
        early.code(0, 5)
        #expect(throws: ReleaseError.self) { try Inflate.decompress(early.bytes, limit: 1 << 20) }
        var random = SplitMixBytes(seed: 3)
        for _ in 0..<500 { _ = try? Inflate.decompress(random.next(count: 64), limit: 1 << 16) }
    }

    @Test func jsonParserIsBoundedAndExact() throws {
        let value = try JSONValue.parse(Array(#"{"a": [1, 2.5, "x\u00e9\ud83d\ude00", true, null], "b": {}}"#.utf8))
        #expect(value["a"] == .array([.number(1), .number(2.5), .string("xé😀"), .bool(true), .null]))
        #expect(String(decoding: value.serialized(), as: UTF8.self) == #"{"a":[1,2.5,"xé😀",true,null],"b":{}}"#)
        for text in [
            "", "{", "[1,]", #"{"a" 1}"#, "nul", #""\ud800""#, "1 2",
            String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
            "\"a\u{01}\"", "{\"a\":1,}",
        ] {
            #expect(throws: ReleaseError.self, "\(text)") { try JSONValue.parse(Array(text.utf8)) }
        }
    }
}

/// Packs DEFLATE bit fields: plain values least significant bit first, Huffman codes most significant first.
struct BitWriter {
    var bytes: [UInt8] = []
    var count = 0

    mutating func bit(_ value: Int) {
        if count % 8 == 0 { bytes.append(0) }
        if value != 0 { bytes[bytes.count - 1] |= UInt8(1 << (count % 8)) }
        count += 1
    }

    mutating func bits(_ value: Int, _ width: Int) {
        for index in 0..<width { bit((value >> index) & 1) }
    }

    mutating func code(_ value: Int, _ width: Int) {
        for index in stride(from: width - 1, through: 0, by: -1) { bit((value >> index) & 1) }
    }
}

/// Deterministic pseudo-random bytes for hostile-input tests (SplitMix64).
struct SplitMixBytes {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next(count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            for shift in stride(from: 0, to: 64, by: 8) where bytes.count < count {
                bytes.append(UInt8(truncatingIfNeeded: z >> UInt64(shift)))
            }
        }
        return bytes
    }
}
