// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc
import Testing
import VMMSysUtil

/// A real pseudo-terminal pair from `posix_openpt`.
struct PseudoTerminal: ~Copyable {
    let primary: FileDescriptor
    let secondary: FileDescriptor

    init() throws {
        let fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)
        try #require(fd >= 0, "posix_openpt: \(Errno.current)")
        let primary = FileDescriptor(owning: fd)
        try #require(grantpt(fd) == 0 && unlockpt(fd) == 0)
        var name = [CChar](repeating: 0, count: 128)
        try #require(cvmm_ptsname_r(fd, &name, name.count) == 0)
        let path = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        secondary = try FileDescriptor.open(path, flags: O_RDWR | O_NOCTTY)
        self.primary = primary
    }
}

private struct Bail: Error {}

@Suite struct TerminalTests {
    @Test func pseudoTerminalIsATerminalAndAPipeIsNot() throws {
        let pty = try PseudoTerminal()
        #expect(Terminal.isTerminal(pty.secondary.rawValue))
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        #expect(!Terminal.isTerminal(ends[0]))
        close(ends[0])
        close(ends[1])
    }

    @Test func rawModeClearsEchoAndCanonicalAndExplicitRestoreBringsThemBack() throws {
        let pty = try PseudoTerminal()
        let fd = pty.secondary.rawValue
        let before = try Terminal.attributes(of: fd)
        #expect(before.c_lflag & tcflag_t(ECHO | ICANON | ISIG) == tcflag_t(ECHO | ICANON | ISIG))

        let raw = try Terminal.RawMode(descriptor: fd)
        let during = try Terminal.attributes(of: fd)
        #expect(during.c_lflag & tcflag_t(ECHO | ICANON | ISIG | IEXTEN) == 0)
        #expect(during.c_cflag & tcflag_t(CSIZE) == tcflag_t(CS8))
        #expect(during.c_cc.6 == 1)  // VMIN: a read returns after one byte
        try raw.restore()

        let after = try Terminal.attributes(of: fd)
        #expect(after.c_lflag == before.c_lflag)
        #expect(after.c_iflag == before.c_iflag)
        #expect(after.c_oflag == before.c_oflag)
        #expect(after.c_cflag == before.c_cflag)
    }

    @Test func rawModeIsRestoredWhenTheGuardGoesOutOfScope() throws {
        let pty = try PseudoTerminal()
        let fd = pty.secondary.rawValue
        let before = try Terminal.attributes(of: fd)
        do {
            let raw = try Terminal.RawMode(descriptor: fd)
            #expect(try Terminal.attributes(of: fd).c_lflag & tcflag_t(ICANON) == 0)
            _ = raw
        }
        #expect(try Terminal.attributes(of: fd).c_lflag == before.c_lflag)
    }

    @Test func rawModeIsRestoredWhenAnErrorIsThrown() throws {
        let pty = try PseudoTerminal()
        let fd = pty.secondary.rawValue
        let before = try Terminal.attributes(of: fd)
        func consoleSessionThatFails() throws {
            let raw = try Terminal.RawMode(descriptor: fd)
            _ = raw
            throw Bail()
        }
        #expect(throws: Bail.self) { try consoleSessionThatFails() }
        #expect(try Terminal.attributes(of: fd).c_lflag == before.c_lflag)
    }

    @Test func rawModeReallyPassesBytesUnechoed() throws {
        let pty = try PseudoTerminal()
        let raw = try Terminal.RawMode(descriptor: pty.secondary.rawValue)
        // Ctrl-C (0x03) and a byte without newline reach the reader as data.
        try pty.primary.write([0x03, 0x41])
        var buffer = [UInt8](repeating: 0, count: 8)
        let count = try buffer.withUnsafeMutableBytes { try pty.secondary.read(into: $0) }
        #expect(Array(buffer[..<count]) == [0x03, 0x41])
        // No echo came back to the primary side.
        let flags = fcntl(pty.primary.rawValue, F_GETFL)
        _ = cvmm_fcntl_int(pty.primary.rawValue, F_SETFL, flags | O_NONBLOCK)
        #expect(throws: SystemError("read", errno: .wouldBlock)) {
            _ = try buffer.withUnsafeMutableBytes { try pty.primary.read(into: $0) }
        }
        try raw.restore()
    }

    @Test func notATerminalIsATypedError() throws {
        let file = try FileDescriptor.open("/dev/null", flags: O_RDWR)
        #expect(throws: SystemError("tcgetattr(\(file.rawValue))", errno: .notATerminal)) {
            _ = try Terminal.RawMode(descriptor: file.rawValue)
        }
        #expect(throws: SystemError("tcgetattr(-1)", errno: .badFileDescriptor)) {
            _ = try Terminal.attributes(of: -1)
        }
    }
}
