// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// A terminal switched to raw mode, restored when this value goes away.
///
/// A VMM puts its standard input in raw mode so every key reaches the guest's
/// serial console (Ctrl-C included) and nothing is echoed twice. The saved
/// settings come back on every exit path: an explicit ``restore()``, a thrown
/// error or an early return (the value's `deinit`). A fatal signal skips
/// `deinit`: block SIGTERM/SIGINT and read them from a ``SignalFd`` so the
/// VMM leaves through a normal return.
///
/// ```swift
/// if Terminal.isTerminal(STDIN_FILENO) {
///     let raw = try Terminal.RawMode(descriptor: STDIN_FILENO)
///     // ... run the guest; keys arrive one by one, unechoed ...
///     try raw.restore()  // or let `raw` go out of scope
/// }
/// ```
public enum Terminal {
    /// Whether `descriptor` refers to a terminal (`isatty`).
    public static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }

    /// The descriptor's current settings (`tcgetattr`).
    public static func attributes(of descriptor: Int32) throws(SystemError) -> termios {
        var attributes = termios()
        // SAFETY: tcgetattr writes one termios into the local `attributes`.
        if unsafe tcgetattr(descriptor, &attributes) != 0 { throw SystemError.current("tcgetattr(\(descriptor))") }
        return attributes
    }

    /// Applies settings to `descriptor` (`tcsetattr(TCSANOW)`), retrying on `EINTR`.
    public static func setAttributes(_ attributes: termios, of descriptor: Int32) throws(SystemError) {
        var attributes = attributes
        // SAFETY: tcsetattr only reads one termios from the local copy `attributes`, alive for every retry.
        _ = try retryOnInterrupt("tcsetattr(\(descriptor))") { unsafe tcsetattr(descriptor, TCSANOW, &attributes) }
    }

    /// A new pseudo-terminal pair: this process holds the controller side, the device side
    /// (`/dev/pts/N`) is what a child or a guest console uses as its terminal.
    ///
    /// Tests drive interactive programs through it; a VMM can offer a guest's serial console on
    /// it (as QEMU's `-serial pty`).
    ///
    /// ```swift
    /// func talkToAShell() throws {
    ///     let terminal = try Terminal.PseudoTerminal()
    ///     let device = try terminal.openDevice()   // give this to the child as stdin/stdout
    ///     try terminal.controller.write(Array("echo hi\r".utf8))
    ///     _ = device
    /// }
    /// ```
    public struct PseudoTerminal: ~Copyable {
        /// The controller side (the "master"): what is written here is typed on the terminal.
        public let controller: FileDescriptor
        /// The device path of the terminal side, `/dev/pts/N`.
        public let devicePath: String

        /// Opens a controller (`posix_openpt`, close-on-exec) and unlocks its device.
        public init() throws(SystemError) {
            var name = [CChar](repeating: 0, count: 128)
            // SAFETY: ptsname_r writes at most name.count bytes (NUL included) into the local 128-byte array,
            // failing with ERANGE rather than overrunning it.
            let descriptor = unsafe cvmm_open_pseudo_terminal(&name, name.count)
            if descriptor < 0 { throw SystemError.current("posix_openpt") }
            controller = FileDescriptor(owning: descriptor)
            devicePath = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }

        /// Opens the terminal side read-write, without making it this process's controlling terminal.
        public func openDevice() throws(SystemError) -> FileDescriptor {
            try FileDescriptor.open(devicePath, flags: O_RDWR | O_NOCTTY)
        }
    }

    /// Raw mode on one terminal descriptor, as a guard that restores the saved settings.
    ///
    /// The descriptor is borrowed, not owned: keep it open while the guard lives.
    ///
    /// ```swift
    /// func runConsole() throws {
    ///     let raw = try Terminal.RawMode(descriptor: STDIN_FILENO)
    ///     try pumpKeysToTheGuest()  // a throw here still restores the terminal
    ///     _ = raw
    /// }
    /// ```
    public struct RawMode: ~Copyable, Sendable {
        /// The terminal descriptor (borrowed).
        public let descriptor: Int32
        /// The settings in force before raw mode, put back on restore.
        public let saved: termios

        /// Saves the current settings of `descriptor` and switches it to raw
        /// mode: no echo, no line editing, no signal keys, 8-bit bytes, reads
        /// return as soon as one byte is there.
        public init(descriptor: Int32) throws(SystemError) {
            let saved = try Terminal.attributes(of: descriptor)
            var raw = saved
            unsafe cvmm_cfmakeraw(&raw)  // SAFETY: edits the local termios copy `raw` in place.
            try Terminal.setAttributes(raw, of: descriptor)
            self.descriptor = descriptor
            self.saved = saved
        }

        /// Restores the saved settings now and reports a failure (the `deinit`
        /// path cannot report one).
        public consuming func restore() throws(SystemError) {
            let descriptor = descriptor
            let saved = saved
            discard self
            try Terminal.setAttributes(saved, of: descriptor)
        }

        deinit { try? Terminal.setAttributes(saved, of: descriptor) }
    }
}
