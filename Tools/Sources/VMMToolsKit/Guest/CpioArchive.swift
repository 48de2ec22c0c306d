// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Writes an uncompressed `newc` cpio archive, the format the kernel unpacks as an
/// initramfs. Written in-process so device nodes (`/dev/console`) need no root and
/// the bytes depend only on the entries (mtime 0, fixed inode numbers): the same
/// inputs give the same archive and the same cache key.
///
/// ```swift
/// var archive = CpioArchive()
/// archive.directory("dev")
/// archive.characterDevice("dev/console", major: 5, minor: 1)
/// archive.file("init", contents: Array(script.utf8), mode: 0o755)
/// let bytes = archive.finish()
/// ```
public struct CpioArchive: Sendable {
    private var bytes: [UInt8] = []
    private var nextInode: UInt32 = 1
    private var names = Set<String>()

    /// An empty archive.
    public init() {}

    /// Adds a directory (mode 0755 unless given).
    public mutating func directory(_ path: String, mode: UInt32 = 0o755) {
        append(path, mode: 0o040000 | mode, data: [])
    }

    /// Adds a regular file.
    public mutating func file(_ path: String, contents: [UInt8], mode: UInt32 = 0o644) {
        append(path, mode: 0o100000 | mode, data: contents)
    }

    /// Adds a symbolic link to `target`.
    public mutating func symlink(_ path: String, target: String) {
        append(path, mode: 0o120777, data: Array(target.utf8))
    }

    /// Adds a character device node.
    public mutating func characterDevice(_ path: String, major: UInt32, minor: UInt32, mode: UInt32 = 0o600) {
        append(path, mode: 0o020000 | mode, data: [], rdev: (major, minor))
    }

    /// True when `path` was already added.
    public func contains(_ path: String) -> Bool { names.contains(path) }

    /// The archive with its `TRAILER!!!` entry.
    public mutating func finish() -> [UInt8] {
        var result = self
        result.append("TRAILER!!!", mode: 0, data: [], inode: 0)
        return result.bytes
    }

    private mutating func append(
        _ path: String, mode: UInt32, data: [UInt8], rdev: (UInt32, UInt32) = (0, 0), inode: UInt32? = nil
    ) {
        names.insert(path)
        let name = Array(path.utf8) + [0]
        let fields: [UInt32] = [
            inode ?? nextInode, mode, 0, 0, mode & 0o040000 != 0 ? 2 : 1, 0, UInt32(data.count), 0, 0, rdev.0, rdev.1,
            UInt32(name.count), 0,
        ]
        if inode == nil { nextInode += 1 }
        bytes += Array("070701".utf8)
        for field in fields { bytes += Self.hex8(field) }
        bytes += name
        pad()
        bytes += data
        pad()
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    private static func hex8(_ value: UInt32) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        return (0..<8).map { digits[Int((value >> UInt32(28 - 4 * $0)) & 0xf)] }
    }
}
