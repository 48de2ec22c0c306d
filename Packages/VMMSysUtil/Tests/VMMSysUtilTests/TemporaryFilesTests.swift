// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMMSysUtil

private func exists(_ path: String) -> Bool {
    var status = stat()
    return lstat(path, &status) == 0
}

@Suite struct TemporaryFilesTests {
    @Test func fileExistsWhileAliveAndIsRemovedAfter() throws {
        var path = ""
        do {
            let file = try TemporaryFile(prefix: "tmpfile-test")
            path = file.path
            #expect(path.hasPrefix("/tmp/tmpfile-test-") || path.contains("/tmpfile-test-"))
            #expect(exists(path))
            try file.descriptor.write([1, 2, 3])
            var status = stat()
            #expect(stat(path, &status) == 0)
            #expect(status.st_size == 3)
            #expect(status.st_mode & 0o777 == 0o600)
            #expect(fcntl(file.descriptor.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        }
        #expect(!exists(path))
    }

    @Test func namesAreUnique() throws {
        let first = try TemporaryFile()
        let second = try TemporaryFile()
        #expect(first.path != second.path)
    }

    @Test func directoryAndItsContentsAreRemoved() throws {
        var path = ""
        do {
            let directory = try TemporaryDirectory(prefix: "tmpdir-test")
            path = directory.path
            var status = stat()
            #expect(stat(path, &status) == 0)
            #expect(status.st_mode & S_IFMT == S_IFDIR)
            #expect(status.st_mode & 0o777 == 0o700)
            // Fill it: a file, a nested directory with a file, and a symlink pointing outside.
            _ = try TemporaryFile(prefix: "inside", in: path).descriptor.duplicate()
            #expect(mkdir(path + "/nested", 0o700) == 0)
            let nested = try FileDescriptor.open(path + "/nested/data", flags: O_CREAT | O_WRONLY)
            try nested.write([9])
            let outside = try TemporaryFile(prefix: "outside")
            #expect(symlink(outside.path, path + "/link") == 0)
            #expect(exists(path + "/nested/data"))
            _ = consume outside
        }
        #expect(!exists(path))
    }

    @Test func explicitRemoveReportsSuccessAndDeinitIsHarmless() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path
        let outside = try TemporaryFile(prefix: "target")
        #expect(symlink(outside.path, path + "/link") == 0)
        try directory.remove()
        #expect(!exists(path))
        // The symlink was removed, not followed.
        #expect(exists(outside.path))
    }

    @Test func missingParentIsATypedError() {
        #expect(throws: SystemError("mkstemp(x)", errno: .noSuchFile)) {
            _ = try TemporaryFile(prefix: "x", in: "/nonexistent/swift-vmm")
        }
        #expect(throws: SystemError("mkdtemp(y)", errno: .noSuchFile)) {
            _ = try TemporaryDirectory(prefix: "y", in: "/nonexistent/swift-vmm")
        }
    }
}
