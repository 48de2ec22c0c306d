// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets
import IntegrationVMMCore
import Testing
import VMMSysUtil

/// A pseudo-terminal: the test types into and reads from the controller, integration-vmm gets
/// the terminal device as stdin and stdout, as it would get a person's terminal.
final class PseudoTerminal {
    let pair: Terminal.PseudoTerminal
    let device: FileDescriptor
    var master: Int32 { pair.controller.rawValue }
    var slave: Int32 { device.rawValue }
    /// Everything the VMM wrote so far.
    private(set) var transcript = ""

    init() throws {
        pair = try Terminal.PseudoTerminal()
        device = try pair.openDevice()
    }

    /// The device's current settings (what the VMM changes and must put back).
    func attributes() throws -> termios { try Terminal.attributes(of: slave) }

    /// Types `text` (bytes as given: "\r" is Enter, "\u{03}" Ctrl-C).
    func type(_ text: String) throws { try pair.controller.write(Array(text.utf8)) }

    /// Reads until `text` occurs after offset `from` of the transcript, or `seconds` pass.
    /// Returns the transcript offset just past the match, nil on timeout.
    @discardableResult
    func read(until text: String, after from: String.Index? = nil, seconds: Double) -> String.Index? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let start = from ?? transcript.startIndex
            if let range = transcript.range(of: text, range: start..<transcript.endIndex) { return range.upperBound }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Int32(min(left, 1) * 1000)) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            // SAFETY: read(2) stores at most buffer.count bytes into the array's own storage.
            let count = buffer.withUnsafeMutableBytes { Glibc.read(master, $0.baseAddress, $0.count) }
            if count <= 0 { return nil }  // EIO: no process has the slave open any more
            transcript += String(decoding: buffer[0..<count], as: UTF8.self)
        }
    }

    /// The end of the transcript so far, for failure messages.
    var tail: String { String(transcript.suffix(600)) }
}

/// integration-vmm on a terminal: the default guest is a root shell with job control.
@Suite("integration-vmm's interactive console", .serialized)
struct InteractiveShellTests {
    /// The prompt `/init` gives the shell (`root@swift-vmm:<cwd># `).
    static let prompt = GuestCommandLine.shellPrompt

    /// integration-vmm running with a pseudo-terminal as stdin and stdout, and that terminal's
    /// settings from before the start.
    final class Session {
        let terminal: PseudoTerminal
        let before: termios
        let process = Process()
        let errors = Pipe()

        init(_ binary: URL) throws {
            terminal = try PseudoTerminal()
            before = try terminal.attributes()
            process.executableURL = binary
            process.arguments = []
            let handle = FileHandle(fileDescriptor: terminal.slave, closeOnDealloc: false)
            process.standardInput = handle
            process.standardOutput = handle
            process.standardError = errors
            try process.run()
        }

        deinit { if process.isRunning { process.terminate() } }

        /// Waits for `text` in the VMM's output (the first boot after a change of ci/guest builds the initramfs).
        func wait(for text: String, after: String.Index? = nil, seconds: Double = 240) -> String.Index? {
            let found = terminal.read(until: text, after: after, seconds: seconds)
            if found == nil { Issue.record("no \(text) in: \(terminal.tail)") }
            return found
        }

        /// Types `keys`, then expects the VMM to end with status 0 within `seconds` and the
        /// terminal's modes to be what they were before the start.
        func expectCleanEnd(typing keys: String, seconds: Double) throws {
            try terminal.type(keys)
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            #expect(!process.isRunning, "\(keys.debugDescription) did not end the VMM: \(terminal.tail)")
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 0, "stderr: \(stderr)")
            let after = try terminal.attributes()
            #expect(
                after.c_iflag == before.c_iflag && after.c_oflag == before.c_oflag
                    && after.c_cflag == before.c_cflag && after.c_lflag == before.c_lflag,
                "the terminal's modes were not restored")
        }
    }

    @Test func shellComputesInterruptsAndExitsRestoringTheTerminal() throws {
        guard let (_, binary) = try GuestRequirement.guest() else { return }
        let session = try Session(binary)
        let terminal = session.terminal
        guard let ready = session.wait(for: Self.prompt) else { return }
        // Raw mode while the guest runs: the VMM, not the host's line discipline, sees each key.
        let during = try terminal.attributes()
        #expect(during.c_lflag & tcflag_t(ICANON | ECHO | ISIG) == 0)
        #expect(!terminal.transcript.contains("job control turned off"), "\(terminal.tail)")

        try terminal.type("echo $((6*7))\r")
        guard let answer = session.wait(for: "42\r\n", after: ready, seconds: 60),
            session.wait(for: Self.prompt, after: answer, seconds: 60) != nil
        else { return }

        // Ctrl-C goes to the guest's foreground job, not to the VMM: the sleep ends, the shell and VMM stay.
        let typed = terminal.transcript.endIndex
        // The echoed line shows STA""RTED and SLE""PT; the output STARTED (the shell runs the line) and SLEPT.
        try terminal.type("echo STA\"\"RTED; sleep 600; echo SLE\"\"PT\r")
        guard session.wait(for: "STARTED", after: typed, seconds: 60) != nil else { return }
        usleep(1_000_000)  // let the shell fork and exec sleep; a ^C before it still ends the line with 130
        try terminal.type("\u{03}")
        guard let interrupted = session.wait(for: Self.prompt, after: typed, seconds: 60) else { return }
        #expect(session.process.isRunning, "Ctrl-C ended the VMM")
        try terminal.type("echo status=$?\r")
        #expect(session.wait(for: "status=130", after: interrupted, seconds: 60) != nil)
        #expect(!terminal.transcript.contains("SLEPT"))

        try session.expectCleanEnd(typing: "exit\r", seconds: 120)
    }

    @Test func poweroffInTheShellEndsTheVMMWithZero() throws {
        guard let (_, binary) = try GuestRequirement.guest() else { return }
        let session = try Session(binary)
        guard session.wait(for: Self.prompt) != nil else { return }
        try session.expectCleanEnd(typing: "poweroff\r", seconds: 120)  // no -f, as a person types it
    }

    @Test func ctrlAXQuitsWhileTheGuestBootsAndRestoresTheTerminal() throws {
        guard let (_, binary) = try GuestRequirement.guest() else { return }
        let session = try Session(binary)
        guard session.wait(for: GuestCommandLine.readyMarker) != nil else { return }
        try session.expectCleanEnd(typing: "\u{01}x", seconds: 30)
    }

    /// Without a terminal on stdin there is nobody to type: the default guest boots, prints the
    /// marker and powers off with status 0, and no shell is started.
    @Test func withoutATerminalTheDefaultGuestBootsAndStops() throws {
        guard let (_, binary) = try GuestRequirement.guest() else { return }
        let run = try VMMRun.run(binary, [], timeout: 300)
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.contains(GuestCommandLine.readyMarker), "\(run.stdout.suffix(600))")
        #expect(run.stdout.contains(GuestCommandLine.exitMarker + " status=0"))
        #expect(!run.stdout.contains(Self.prompt))
    }
}
