// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// The directory for temporary files: `$TMPDIR` when set, else `/tmp`.
func temporaryDirectoryPath() -> String {
    if let value = getenv("TMPDIR"), value.pointee != 0 { return String(cString: value) }
    return "/tmp"
}

/// The text of a NUL-terminated template filled in by mkstemp/mkdtemp.
private func pathString(_ template: [CChar]) -> String {
    String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A new, uniquely named file (`mkstemp`), open for reading and writing, and
/// deleted when this value goes away.
///
/// ```swift
/// let disk = try TemporaryFile(prefix: "disk")
/// try disk.descriptor.write([0x55, 0xAA])
/// print(disk.path)  // /tmp/disk-Xa81Qz
/// // unlinked and closed here
/// ```
public struct TemporaryFile: ~Copyable, Sendable {
    /// The file's path.
    public let path: String
    /// The open descriptor (read/write, close-on-exec), owned by this value.
    public let descriptor: FileDescriptor

    /// Creates `<directory>/<prefix>-XXXXXX` with mode 0600.
    public init(prefix: String = "swift-vmm", in directory: String? = nil) throws(SystemError) {
        var template = Array("\(directory ?? temporaryDirectoryPath())/\(prefix)-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        if fd < 0 { throw SystemError.current("mkstemp(\(prefix))") }
        let owned = FileDescriptor(owning: fd)
        let created = pathString(template)
        // mkstemp has no close-on-exec flag; set it before anyone can fork.
        if cvmm_fcntl_int(fd, F_SETFD, FD_CLOEXEC) != 0 {
            let error = SystemError.current("fcntl(F_SETFD)")
            _ = unlink(created)
            throw error
        }
        path = created
        descriptor = owned
    }

    deinit { _ = unlink(path) }
}

/// A new, uniquely named directory (`mkdtemp`), removed with everything in it
/// when this value goes away.
///
/// ```swift
/// let scratch = try TemporaryDirectory(prefix: "vhost")
/// let socketPath = scratch.path + "/backend.sock"
/// // scratch.path and its contents are deleted here
/// ```
public struct TemporaryDirectory: ~Copyable, Sendable {
    /// The directory's path.
    public let path: String

    /// Creates `<directory>/<prefix>-XXXXXX` with mode 0700.
    public init(prefix: String = "swift-vmm", in directory: String? = nil) throws(SystemError) {
        var template = Array("\(directory ?? temporaryDirectoryPath())/\(prefix)-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw SystemError.current("mkdtemp(\(prefix))") }
        path = pathString(template)
    }

    /// Removes the directory tree now and reports the first failure (the
    /// `deinit` path cannot report one; it finds nothing left to remove).
    public consuming func remove() throws(SystemError) {
        try removeTree(path)
    }

    deinit { try? removeTree(path) }
}

/// Deletes `path` and, for a directory, everything under it. Symbolic links are
/// removed, never followed, so nothing outside the tree is touched.
func removeTree(_ path: String) throws(SystemError) {
    var status = stat()
    if lstat(path, &status) != 0 {
        if Errno.current == .noSuchFile { return }
        throw SystemError.current("lstat(\(path))")
    }
    if status.st_mode & S_IFMT != S_IFDIR {
        if unlink(path) != 0 { throw SystemError.current("unlink(\(path))") }
        return
    }
    guard let directory = opendir(path) else { throw SystemError.current("opendir(\(path))") }
    var children: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            // SAFETY: d_name is a NUL-terminated array inside the dirent; the prefix stops at the NUL.
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { children.append(name) }
    }
    closedir(directory)
    for child in children { try removeTree(path + "/" + child) }
    if rmdir(path) != 0 { throw SystemError.current("rmdir(\(path))") }
}
