// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// The directory for temporary files: `$TMPDIR` when set, else `/tmp`.
func temporaryDirectoryPath() -> String {
    // SAFETY: getenv points into the environment; the result is checked non-nil and copied into a String at once.
    // Sound unless another thread calls setenv/unsetenv meanwhile (this module never does).
    if let value = unsafe getenv("TMPDIR"), unsafe value.pointee != 0 { return unsafe String(cString: value) }
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
        // SAFETY: `template` is a local NUL-terminated array ending in XXXXXX; mkstemp rewrites those bytes in place.
        let fd = unsafe mkstemp(&template)
        if fd < 0 { throw SystemError.current("mkstemp(\(prefix))") }
        let owned = FileDescriptor(owning: fd)
        let created = pathString(template)
        // mkstemp has no close-on-exec flag; set it before anyone can fork.
        if cvmm_fcntl_int(fd, F_SETFD, FD_CLOEXEC) != 0 {
            let error = SystemError.current("fcntl(F_SETFD)")
            _ = unsafe unlink(created)  // SAFETY: `created` is bridged to a NUL-terminated C string alive for the call.
            throw error
        }
        path = created
        descriptor = owned
    }

    // SAFETY: `path` is bridged to a NUL-terminated C string valid for the call, which does not keep it.
    deinit { _ = unsafe unlink(path) }
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
        // SAFETY: mkdtemp rewrites the trailing XXXXXX of the local NUL-terminated array in place; the pointer it
        // returns (into `template`) is only compared with nil.
        guard unsafe mkdtemp(&template) != nil else { throw SystemError.current("mkdtemp(\(prefix))") }
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
    // SAFETY: lstat reads `path` as a temporary C string and writes one struct stat into the local `status`.
    if unsafe lstat(path, &status) != 0 {
        if Errno.current == .noSuchFile { return }
        throw SystemError.current("lstat(\(path))")
    }
    if status.st_mode & S_IFMT != S_IFDIR {
        // SAFETY: `path` is bridged to a NUL-terminated C string valid for the call, which does not keep it.
        if unsafe unlink(path) != 0 { throw SystemError.current("unlink(\(path))") }
        return
    }
    // SAFETY: opendir copies `path`; the DIR* stays local and is closed exactly once, after the loop.
    guard let directory = unsafe opendir(path) else { throw SystemError.current("opendir(\(path))") }
    var children: [String] = []
    // SAFETY: `directory` is open until closedir below; each dirent is used only before the next readdir.
    while let entry = unsafe readdir(directory) {
        // SAFETY: d_name is NUL-terminated inside this entry. It is read through a pointer up to that NUL and
        // never copied whole: glibc packs entries at d_reclen, so the last one may end before its 256 bytes do.
        let name = unsafe String(
            cString: (UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \.d_name)!).assumingMemoryBound(
                to: CChar.self))
        if name != "." && name != ".." { children.append(name) }
    }
    unsafe closedir(directory)  // SAFETY: the one close; no entry is used after it.
    for child in children { try removeTree(path + "/" + child) }
    // SAFETY: `path` is bridged to a NUL-terminated C string valid for the call, which does not keep it.
    if unsafe rmdir(path) != 0 { throw SystemError.current("rmdir(\(path))") }
}
