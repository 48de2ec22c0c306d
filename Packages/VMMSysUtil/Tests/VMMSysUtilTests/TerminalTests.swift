// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc
import Testing
import VMMSysUtil

/// A real pseudo-terminal pair from ``Terminal/PseudoTerminal``, with the device side open.
struct PseudoTerminal: ~Copyable {
    let pair: Terminal.PseudoTerminal
    let secondary: FileDescriptor
    var path: String { pair.devicePath }

    init() throws {
        let pair = try Terminal.PseudoTerminal()
        let secondary = try pair.openDevice()
        self.secondary = secondary
        self.pair = pair
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

    @Test func pseudoTerminalPairCarriesBytesBothWaysAndNamesItsDevice() throws {
        let pty = try PseudoTerminal()
        #expect(pty.path.hasPrefix("/dev/pts/"))
        #expect(!Terminal.isTerminal(-1))
        #expect(fcntl(pty.pair.controller.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        let raw = try Terminal.RawMode(descriptor: pty.secondary.rawValue)
        try pty.pair.controller.write(Array("in".utf8))
        var buffer = [UInt8](repeating: 0, count: 8)
        var count = try buffer.withUnsafeMutableBytes { try pty.secondary.read(into: $0) }
        #expect(Array(buffer[..<count]) == Array("in".utf8))
        try pty.secondary.write(Array("out".utf8))
        count = try buffer.withUnsafeMutableBytes { try pty.pair.controller.read(into: $0) }
        #expect(Array(buffer[..<count]) == Array("out".utf8))
        try raw.restore()
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
        try pty.pair.controller.write([0x03, 0x41])
        var buffer = [UInt8](repeating: 0, count: 8)
        let count = try buffer.withUnsafeMutableBytes { try pty.secondary.read(into: $0) }
        #expect(Array(buffer[..<count]) == [0x03, 0x41])
        // No echo came back to the primary side.
        let flags = fcntl(pty.pair.controller.rawValue, F_GETFL)
        _ = cvmm_fcntl_int(pty.pair.controller.rawValue, F_SETFL, flags | O_NONBLOCK)
        #expect(throws: SystemError("read", errno: .wouldBlock)) {
            _ = try buffer.withUnsafeMutableBytes { try pty.pair.controller.read(into: $0) }
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
