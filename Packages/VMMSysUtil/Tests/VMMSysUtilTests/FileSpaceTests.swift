// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMMSysUtil

@Suite("FileSpace")
struct FileSpaceTests {
    @Test("punching a hole frees blocks and reads zeros; zero-range keeps the size; bad ranges throw")
    func punchAndZero() throws {
        let path = "/tmp/vmm-filespace-\(getpid())"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        defer {
            close(fd)
            unlink(path)
        }
        var bytes = [UInt8](repeating: 0xab, count: 1 << 20)
        #expect(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == 1 << 20)
        fsync(fd)
        var before = stat()
        fstat(fd, &before)
        let punched = try FileSpace.allocate(fd, mode: [.punchHole, .keepSize], offset: 0, length: 512 << 10)
        var after = stat()
        fstat(fd, &after)
        if punched {
            #expect(after.st_blocks < before.st_blocks)
            #expect(after.st_size == 1 << 20)
            #expect(bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4096, 0) } == 4096)
            #expect(bytes[0..<4096].allSatisfy { $0 == 0 })
        }
        if try FileSpace.allocate(fd, mode: [.zeroRange, .keepSize], offset: 512 << 10, length: 4096) {
            #expect(bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4096, 512 << 10) } == 4096)
            #expect(bytes[0..<4096].allSatisfy { $0 == 0 })
        }
        #expect(throws: SystemError.self) {
            _ = try FileSpace.allocate(fd, mode: [.keepSize], offset: UInt64.max - 1, length: 16)
        }
        #expect(throws: SystemError.self) { _ = try FileSpace.allocate(-1, mode: [.keepSize], offset: 0, length: 16) }
        #expect(FileSpace.directIOFlag != 0)
    }
}
