// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// One file or folder of a zip archive.
public struct ZipEntry: Sendable, Equatable {
    /// The path inside the archive, `/`-separated; folders end with `/`.
    public var path: String
    /// Unix permission bits (`0o644`, `0o755`, ...).
    public var mode: UInt16
    /// The file's bytes (empty for folders).
    public var contents: [UInt8]

    /// True for folder entries.
    public var isDirectory: Bool { path.hasSuffix("/") }

    /// Creates an entry.
    public init(path: String, mode: UInt16, contents: [UInt8] = []) {
        self.path = path
        self.mode = mode
        self.contents = contents
    }
}

/// Zip archives as SwiftPM registries exchange them: written here without compression and
/// with a fixed timestamp, so the same sources always give the same bytes (and checksum);
/// read back with bounds checks, since an uploaded archive is untrusted.
///
/// ```swift
/// let bytes = try ZipArchive.write([ZipEntry(path: "Pkg/Package.swift", mode: 0o644, contents: manifest)])
/// let entries = try ZipArchive.read(bytes)
/// ```
public enum ZipArchive {
    /// Limits for reading an untrusted archive.
    public struct Limits: Sendable {
        /// Most entries accepted.
        public var maxEntries: Int
        /// Most bytes one entry may expand to.
        public var maxEntryBytes: Int
        /// Most bytes all entries together may expand to.
        public var maxTotalBytes: Int

        /// Generous limits for source archives (20,000 entries, 64 MiB each, 512 MiB in all).
        public static let sourceArchive = Limits(maxEntries: 20_000, maxEntryBytes: 64 << 20, maxTotalBytes: 512 << 20)

        /// Creates limits.
        public init(maxEntries: Int, maxEntryBytes: Int, maxTotalBytes: Int) {
            self.maxEntries = maxEntries
            self.maxEntryBytes = maxEntryBytes
            self.maxTotalBytes = maxTotalBytes
        }
    }

    /// The zip bytes of `entries` in the given order, stored (method 0), each stamped `modified`
    /// (UTC, clamped to 1980...2107 as the DOS format requires).
    public static func write(
        _ entries: [ZipEntry], modified: Date = Date(timeIntervalSince1970: 315_532_800)
    )
        throws(ReleaseError) -> [UInt8]
    {
        guard entries.count < 0xFFFF else { throw ReleaseError(.archive, "too many entries for a zip without zip64") }
        let (time, date) = dosTimestamp(modified)
        var output: [UInt8] = []
        var central: [UInt8] = []
        for entry in entries {
            try checkPath(entry.path)
            let name = Array(entry.path.utf8)
            let offset = output.count
            guard entry.contents.count < 0xFFFF_FFFF, offset < 0xFFFF_FFFF, name.count < 0xFFFF else {
                throw ReleaseError(.archive, "\(entry.path): too large for a zip without zip64")
            }
            let crc = CRC32.checksum(entry.contents)
            let size = UInt32(entry.contents.count)
            // Local file header: version 2.0, UTF-8 names (flag bit 11), stored.
            output.append32(0x0403_4b50)
            output.append16(20)
            output.append16(0x0800)
            output.append16(0)
            output.append16(time)
            output.append16(date)
            output.append32(crc)
            output.append32(size)
            output.append32(size)
            output.append16(UInt16(name.count))
            output.append16(0)
            output += name
            output += entry.contents
            // Central directory header: made by Unix (3) so the mode survives extraction.
            central.append32(0x0201_4b50)
            central.append16(0x0314)
            central.append16(20)
            central.append16(0x0800)
            central.append16(0)
            central.append16(time)
            central.append16(date)
            central.append32(crc)
            central.append32(size)
            central.append32(size)
            central.append16(UInt16(name.count))
            central.append16(0)
            central.append16(0)
            central.append16(0)
            central.append16(0)
            let type: UInt32 = entry.isDirectory ? 0o040000 : 0o100000
            central.append32((type | UInt32(entry.mode & 0o7777)) << 16 | (entry.isDirectory ? 0x10 : 0))
            central.append32(UInt32(offset))
            central += name
        }
        let centralOffset = output.count
        guard centralOffset + central.count < 0xFFFF_FFFF else {
            throw ReleaseError(.archive, "archive too large for a zip without zip64")
        }
        output += central
        output.append32(0x0605_4b50)
        output.append16(0)
        output.append16(0)
        output.append16(UInt16(entries.count))
        output.append16(UInt16(entries.count))
        output.append32(UInt32(central.count))
        output.append32(UInt32(centralOffset))
        output.append16(0)
        return output
    }

    /// Every entry of `directory` (files and folders, sorted by path, symbolic links refused)
    /// under the archive folder `prefix`, the layout `swift package archive-source` produces.
    public static func entries(
        fromDirectory directory: URL, prefix: String, limits: Limits = .sourceArchive
    )
        throws(ReleaseError) -> [ZipEntry]
    {
        let manager = FileManager.default
        let base = directory.standardizedFileURL.path
        guard let relativePaths = manager.subpaths(atPath: base) else {
            throw ReleaseError(.io, "cannot list \(base)")
        }
        var entries = [ZipEntry(path: prefix + "/", mode: 0o755)]
        var total = 0
        for relative in relativePaths.sorted() {
            let full = base + "/" + relative
            let attributes: [FileAttributeKey: Any]
            do {
                attributes = try manager.attributesOfItem(atPath: full)
            } catch {
                throw ReleaseError(.io, "cannot read \(full): \(error)")
            }
            let mode = UInt16(truncatingIfNeeded: (attributes[.posixPermissions] as? Int) ?? 0o644)
            switch attributes[.type] as? FileAttributeType {
            case .typeDirectory?:
                entries.append(ZipEntry(path: "\(prefix)/\(relative)/", mode: mode))
            case .typeRegular?:
                guard let data = manager.contents(atPath: full) else { throw ReleaseError(.io, "cannot read \(full)") }
                total += data.count
                guard data.count <= limits.maxEntryBytes, total <= limits.maxTotalBytes else {
                    throw ReleaseError(.archive, "\(relative): the archive would exceed its size limits")
                }
                entries.append(ZipEntry(path: "\(prefix)/\(relative)", mode: mode, contents: Array(data)))
            default:
                throw ReleaseError(.archive, "\(relative): only regular files and folders can be archived")
            }
            guard entries.count <= limits.maxEntries else {
                throw ReleaseError(.archive, "more than \(limits.maxEntries) entries")
            }
        }
        return entries
    }

    /// Reads every entry of an untrusted archive, checking offsets, sizes, CRCs and paths.
    /// Stored and deflated entries are supported; zip64, encryption and other methods are refused.
    public static func read(_ bytes: [UInt8], limits: Limits = .sourceArchive) throws(ReleaseError) -> [ZipEntry] {
        let directory = try centralDirectory(bytes, limits: limits)
        var entries: [ZipEntry] = []
        var total = 0
        for record in directory {
            let contents = try extract(record, from: bytes, limits: limits)
            total += contents.count
            guard total <= limits.maxTotalBytes else {
                throw ReleaseError(.archive, "the archive expands past \(limits.maxTotalBytes) bytes")
            }
            entries.append(ZipEntry(path: record.path, mode: record.mode, contents: contents))
        }
        return entries
    }

    /// The entries whose paths `wanted` accepts, read without expanding the others.
    public static func read(
        _ bytes: [UInt8], limits: Limits = .sourceArchive, where wanted: (String) -> Bool
    ) throws(ReleaseError) -> [ZipEntry] {
        var entries: [ZipEntry] = []
        for record in try centralDirectory(bytes, limits: limits) where wanted(record.path) {
            entries.append(
                ZipEntry(
                    path: record.path, mode: record.mode, contents: try extract(record, from: bytes, limits: limits)))
        }
        return entries
    }

    /// Every path in the archive, in central-directory order (checked like `read`).
    public static func paths(_ bytes: [UInt8], limits: Limits = .sourceArchive) throws(ReleaseError) -> [String] {
        try centralDirectory(bytes, limits: limits).map(\.path)
    }

    // MARK: Reading

    struct Record {
        var path: String
        var mode: UInt16
        var method: UInt16
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localOffset: Int
    }

    static func centralDirectory(_ bytes: [UInt8], limits: Limits) throws(ReleaseError) -> [Record] {
        // The end record is the last 22 bytes plus a comment of up to 65,535 bytes.
        guard bytes.count >= 22 else { throw ReleaseError(.archive, "not a zip archive (too short)") }
        var end = -1
        var candidate = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 0xFFFF)
        while candidate >= lowest {
            if bytes.read32(candidate) == 0x0605_4b50 {
                end = candidate
                break
            }
            candidate -= 1
        }
        guard end >= 0 else { throw ReleaseError(.archive, "not a zip archive (no end of central directory)") }
        let count = Int(bytes.read16(end + 10))
        let size = Int(bytes.read32(end + 12))
        let offset = Int(bytes.read32(end + 16))
        guard count != 0xFFFF, size != 0xFFFF_FFFF, offset != 0xFFFF_FFFF else {
            throw ReleaseError(.archive, "zip64 archives are not supported")
        }
        guard count <= limits.maxEntries else { throw ReleaseError(.archive, "more than \(limits.maxEntries) entries") }
        guard offset + size <= end else { throw ReleaseError(.archive, "central directory lies outside the archive") }
        var records: [Record] = []
        var position = offset
        var seen: Set<String> = []
        for _ in 0..<count {
            guard position + 46 <= offset + size, bytes.read32(position) == 0x0201_4b50 else {
                throw ReleaseError(.archive, "corrupt central directory entry at \(position)")
            }
            let flags = bytes.read16(position + 8)
            let method = bytes.read16(position + 10)
            let crc = bytes.read32(position + 16)
            let compressed = Int(bytes.read32(position + 20))
            let uncompressed = Int(bytes.read32(position + 24))
            let nameLength = Int(bytes.read16(position + 28))
            let extraLength = Int(bytes.read16(position + 30))
            let commentLength = Int(bytes.read16(position + 32))
            let madeBy = bytes.read16(position + 4) >> 8
            let external = bytes.read32(position + 38)
            let local = Int(bytes.read32(position + 42))
            let next = position + 46 + nameLength + extraLength + commentLength
            guard next <= offset + size else { throw ReleaseError(.archive, "central directory entry overruns") }
            guard flags & 0x1 == 0 else { throw ReleaseError(.archive, "encrypted entries are not supported") }
            guard method == 0 || method == 8 else {
                throw ReleaseError(.archive, "compression method \(method) is not supported")
            }
            guard compressed != 0xFFFF_FFFF, uncompressed != 0xFFFF_FFFF, local != 0xFFFF_FFFF else {
                throw ReleaseError(.archive, "zip64 entries are not supported")
            }
            guard uncompressed <= limits.maxEntryBytes else {
                throw ReleaseError(.archive, "an entry expands past \(limits.maxEntryBytes) bytes")
            }
            guard let path = String(validating: bytes[(position + 46)..<(position + 46 + nameLength)], as: UTF8.self)
            else { throw ReleaseError(.archive, "an entry name is not UTF-8") }
            try checkPath(path)
            guard seen.insert(path).inserted else { throw ReleaseError(.archive, "\(path) appears twice") }
            // Unix-made archives keep permissions in the high half; others get plain defaults.
            let unixMode = madeBy == 3 ? UInt16(truncatingIfNeeded: external >> 16) & 0o7777 : 0
            let mode = unixMode != 0 ? unixMode : (path.hasSuffix("/") ? 0o755 : 0o644)
            records.append(
                Record(
                    path: path, mode: mode, method: method, crc: crc, compressedSize: compressed, size: uncompressed,
                    localOffset: local))
            position = next
        }
        return records
    }

    static func extract(_ record: Record, from bytes: [UInt8], limits: Limits) throws(ReleaseError) -> [UInt8] {
        let local = record.localOffset
        guard local + 30 <= bytes.count, bytes.read32(local) == 0x0403_4b50 else {
            throw ReleaseError(.archive, "\(record.path): corrupt local header")
        }
        let start = local + 30 + Int(bytes.read16(local + 26)) + Int(bytes.read16(local + 28))
        guard start + record.compressedSize <= bytes.count else {
            throw ReleaseError(.archive, "\(record.path): data lies outside the archive")
        }
        let raw = Array(bytes[start..<(start + record.compressedSize)])
        let contents: [UInt8]
        if record.method == 0 {
            guard record.compressedSize == record.size else {
                throw ReleaseError(.archive, "\(record.path): stored sizes differ")
            }
            contents = raw
        } else {
            contents = try Inflate.decompress(raw, limit: min(record.size, limits.maxEntryBytes))
            guard contents.count == record.size else {
                throw ReleaseError(.archive, "\(record.path): expands to \(contents.count) bytes, not \(record.size)")
            }
        }
        guard CRC32.checksum(contents) == record.crc else {
            throw ReleaseError(.archive, "\(record.path): CRC mismatch")
        }
        return contents
    }

    /// Refuses paths that could escape the extraction folder or confuse extractors.
    static func checkPath(_ path: String) throws(ReleaseError) {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        let body = path.hasSuffix("/") ? components.dropLast() : components[...]
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains("\\"), !path.contains("\0"),
            body.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." })
        else { throw ReleaseError(.archive, "unsafe entry path '\(path)'") }
    }

    /// DOS time and date words for `date` in UTC.
    static func dosTimestamp(_ date: Date) -> (time: UInt16, date: UInt16) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let year = min(max(parts.year ?? 1980, 1980), 2107)
        let clamped = year != parts.year
        let time = clamped ? 0 : UInt16((parts.hour ?? 0) << 11 | (parts.minute ?? 0) << 5 | (parts.second ?? 0) / 2)
        let day = clamped ? 1 : (parts.day ?? 1)
        let month = clamped ? 1 : (parts.month ?? 1)
        return (time, UInt16((year - 1980) << 9 | month << 5 | day))
    }
}

extension [UInt8] {
    fileprivate mutating func append16(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value))
        append(UInt8(truncatingIfNeeded: value >> 8))
    }

    fileprivate mutating func append32(_ value: UInt32) {
        for shift in [0, 8, 16, 24] as [UInt32] { append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    /// Little-endian reads; callers check `offset + width <= count` first.
    fileprivate func read16(_ offset: Int) -> UInt16 { UInt16(self[offset]) | UInt16(self[offset + 1]) << 8 }

    fileprivate func read32(_ offset: Int) -> UInt32 {
        UInt32(self[offset]) | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2]) << 16
            | UInt32(self[offset + 3]) << 24
    }
}
