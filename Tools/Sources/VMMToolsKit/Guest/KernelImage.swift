// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// Reads x86 kernel images: the compressed payload inside a bzImage (boot protocol
/// ≥ 2.08) and the PVH entry note inside an ELF `vmlinux`.
///
/// ```swift
/// let payload = try BzImage(bytes: image).payload       // compressed vmlinux
/// let pvh = KernelImage.pvhEntry(inELF: vmlinuxBytes)   // XEN_ELFNOTE_PHYS32_ENTRY
/// ```
public struct BzImage: Sendable {
    /// The compressed ELF vmlinux carried by the image.
    public let payload: ArraySlice<UInt8>
    /// The boot protocol version (`0x020f` = 2.15).
    public let protocolVersion: UInt16

    /// Compression formats the kernel can use for its payload, by magic number.
    public enum Compression: String, Sendable {
        /// gzip (`1f 8b`).
        case gzip
        /// xz (`fd 37 7a 58 5a 00`).
        case xz
        /// zstd (`28 b5 2f fd`).
        case zstd
        /// lz4 legacy frame (`02 21 4c 18`).
        case lz4
        /// bzip2 (`BZh`).
        case bzip2
        /// lzma (`5d 00 00`).
        case lzma
        /// lzo (`89 4c 5a 4f`).
        case lzo

        /// The command that decompresses this format from stdin to stdout.
        public var decompressor: [String] {
            switch self {
            case .gzip: return ["gzip", "-dc"]
            case .xz: return ["xz", "-dc", "--single-stream"]
            case .zstd: return ["zstd", "-dcq"]
            case .lz4: return ["lz4", "-dc"]
            case .bzip2: return ["bzip2", "-dc"]
            case .lzma: return ["xz", "--format=lzma", "-dc"]
            case .lzo: return ["lzop", "-dc"]
            }
        }
    }

    /// Parses the setup header of `bytes`; throws when it is not a bzImage with a payload field.
    public init(bytes: [UInt8]) throws(GuestBuildError) {
        func u16(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
        func u32(_ offset: Int) -> Int {
            Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16
                | Int(bytes[offset + 3]) << 24
        }
        guard bytes.count > 0x250, bytes[0x202..<0x206].elementsEqual("HdrS".utf8) else {
            throw GuestBuildError("bzImage: no 'HdrS' setup header")
        }
        protocolVersion = u16(0x206)
        guard protocolVersion >= 0x0208 else {
            throw GuestBuildError("bzImage: boot protocol \(String(protocolVersion, radix: 16)) has no payload field")
        }
        let setupSectors = bytes[0x1f1] == 0 ? 4 : Int(bytes[0x1f1])
        let start = (setupSectors + 1) * 512 + u32(0x248)
        let length = u32(0x24c)
        guard length > 0, start + length <= bytes.count else {
            throw GuestBuildError("bzImage: payload \(start)+\(length) outside the \(bytes.count)-byte image")
        }
        payload = bytes[start..<start + length]
    }

    /// The payload's compression, from its magic number.
    public var compression: Compression? {
        let magic = Array(payload.prefix(6))
        func starts(_ prefix: [UInt8]) -> Bool { magic.starts(with: prefix) }
        if starts([0x1f, 0x8b]) { return .gzip }
        if starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) { return .xz }
        if starts([0x28, 0xb5, 0x2f, 0xfd]) { return .zstd }
        if starts([0x02, 0x21, 0x4c, 0x18]) { return .lz4 }
        if starts(Array("BZh".utf8)) { return .bzip2 }
        if starts([0x5d, 0x00, 0x00]) { return .lzma }
        if starts([0x89, 0x4c, 0x5a, 0x4f]) { return .lzo }
        return nil
    }

    /// Decompresses the payload with the format's command-line tool into `destination`
    /// and checks the result is an ELF file. Trailing bytes some formats carry (the
    /// kernel appends the uncompressed size) can make the tool exit non-zero after
    /// writing everything, so success is judged by the output.
    public func extractVmlinux(to destination: URL) throws(GuestBuildError) {
        guard let compression else { throw GuestBuildError("bzImage: unknown payload compression") }
        let compressed = destination.appendingPathExtension(compression.rawValue)
        do {
            try Data(payload).write(to: compressed)
        } catch {
            throw GuestBuildError("bzImage: cannot write \(compressed.path): \(error)")
        }
        defer { try? FileManager.default.removeItem(at: compressed) }
        let command = (compression.decompressor + ["<", compressed.path, ">", destination.path])
            .map { $0 == "<" || $0 == ">" ? $0 : "'\($0)'" }.joined(separator: " ")
        _ = try? ProcessRunner.run(["sh", "-c", command])
        guard let head = FileManager.default.contents(atPath: destination.path)?.prefix(4),
            head.elementsEqual([0x7f, 0x45, 0x4c, 0x46])
        else {
            throw GuestBuildError(
                "bzImage: `\(compression.decompressor.joined(separator: " "))` did not produce an ELF vmlinux")
        }
    }
}

/// Facts about an ELF kernel image.
public enum KernelImage {
    /// The 32-bit PVH entry address from the `Xen` note of type 18
    /// (XEN_ELFNOTE_PHYS32_ENTRY), or nil when `elf` is not a 64-bit ELF with that note.
    public static func pvhEntry(inELF elf: [UInt8]) -> UInt32? {
        func u16(_ at: Int) -> Int { Int(elf[at]) | Int(elf[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) -> Int { u32(at) | u32(at + 4) << 32 }
        guard elf.count >= 64, elf.starts(with: [0x7f, 0x45, 0x4c, 0x46, 2, 1]) else { return nil }
        let programHeaders = u64(0x20)
        let entrySize = u16(0x36)
        let count = u16(0x38)
        for index in 0..<count {
            let header = programHeaders + index * entrySize
            guard header + 56 <= elf.count, u32(header) == 4 else { continue }  // PT_NOTE
            let start = u64(header + 8)
            let end = start + u64(header + 32)
            guard start >= 0, end <= elf.count else { continue }
            var cursor = start
            while cursor + 12 <= end {
                let nameSize = u32(cursor)
                let descSize = u32(cursor + 4)
                let type = u32(cursor + 8)
                let nameStart = cursor + 12
                let descStart = nameStart + (nameSize + 3) & ~3
                guard descStart + descSize <= end else { break }
                if type == 18, nameSize == 4, elf[nameStart..<nameStart + 3].elementsEqual("Xen".utf8),
                    descSize >= 4
                {
                    return UInt32(u32(descStart))
                }
                cursor = descStart + (descSize + 3) & ~3
            }
        }
        return nil
    }
}
