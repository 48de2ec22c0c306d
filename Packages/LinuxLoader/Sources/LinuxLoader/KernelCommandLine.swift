// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// Why a command line argument was refused.
public enum CommandLineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An empty key or flag.
    case emptyArgument
    /// A key contains a space, `=`, `"` or a control character.
    case invalidKey
    /// A value contains `"` or a control character (the kernel cannot quote it).
    case invalidValue
    /// The line would exceed its capacity (the kernel's `cmdline_size`, NUL included).
    case tooLong(length: Int, capacity: Int)

    /// One line naming the problem.
    public var description: String {
        switch self {
        case .emptyArgument: return "empty command line argument"
        case .invalidKey: return "command line key contains a space, '=', '\"' or a control character"
        case .invalidValue: return "command line value contains '\"' or a control character"
        case .tooLong(let length, let capacity):
            return "command line of \(length) bytes (with NUL) exceeds its capacity of \(capacity)"
        }
    }
}

/// Builds a kernel command line: flags, `key=value` pairs (quoted when the value
/// has spaces), and `virtio_mmio.device=` entries, checked against the kernel's
/// length limit as they are added. A refused argument leaves the line unchanged.
///
/// ```swift
/// var cmdline = KernelCommandLine(capacity: Int(header.commandLineSize) + 1)
/// try cmdline.append("console", "ttyS0")
/// try cmdline.append("reboot", "t")
/// try cmdline.appendVirtioMMIODevice(size: 0x1000, base: 0xd000_0000, irq: 5)
/// try cmdline.append(flag: "quiet")
/// print(cmdline.text)  // console=ttyS0 reboot=t virtio_mmio.device=4K@0xd0000000:5 quiet
/// ```
public struct KernelCommandLine: Equatable, Sendable {
    /// The most bytes the line may take, its NUL terminator included.
    public let capacity: Int
    /// The line's bytes, without the terminator.
    public private(set) var bytes: [UInt8] = []

    /// An empty line that may grow to `capacity` bytes including the NUL (x86: `cmdline_size + 1`).
    public init(capacity: Int = 2048) { self.capacity = capacity }

    /// The line as text.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The bytes to copy into guest memory: the line and its NUL terminator.
    public var nulTerminated: [UInt8] { bytes + [0] }

    private static func isControl(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x7f }

    private static func checkKey(_ key: String) throws(CommandLineError) {
        guard !key.utf8.isEmpty else { throw .emptyArgument }
        for byte in key.utf8 where byte == 0x20 || byte == 0x3d || byte == 0x22 || isControl(byte) {
            throw .invalidKey
        }
    }

    private mutating func appendArgument(_ argument: [UInt8]) throws(CommandLineError) {
        let separator = bytes.isEmpty ? 0 : 1
        let length = bytes.count + separator + argument.count + 1
        guard length <= capacity else { throw .tooLong(length: length, capacity: capacity) }
        if separator == 1 { bytes.append(0x20) }
        bytes += argument
    }

    /// Appends a bare flag such as `quiet`.
    public mutating func append(flag: String) throws(CommandLineError) {
        try Self.checkKey(flag)
        try appendArgument(Array(flag.utf8))
    }

    /// Appends `key=value`, quoting the value when it contains a space.
    public mutating func append(_ key: String, _ value: String) throws(CommandLineError) {
        try Self.checkKey(key)
        var needsQuotes = false
        for byte in value.utf8 {
            if byte == 0x22 || Self.isControl(byte) { throw .invalidValue }
            if byte == 0x20 { needsQuotes = true }
        }
        var argument = Array(key.utf8)
        argument.append(0x3d)
        if needsQuotes { argument.append(0x22) }
        argument += value.utf8
        if needsQuotes { argument.append(0x22) }
        try appendArgument(argument)
    }

    /// Appends `virtio_mmio.device=<size>@<base>:<irq>[:<id>]`, the form the
    /// kernel's `VIRTIO_MMIO_CMDLINE_DEVICES` parses (size with a K/M/G suffix when exact).
    public mutating func appendVirtioMMIODevice(
        size: UInt64, base: UInt64, irq: UInt32, id: UInt32? = nil
    )
        throws(CommandLineError)
    {
        var value = Self.memorySize(size) + "@0x" + String(base, radix: 16) + ":" + String(irq)
        if let id { value += ":" + String(id) }
        try append("virtio_mmio.device", value)
    }

    /// A size as the kernel's `memparse` reads it: `4K`, `2M`, `1G`, or hexadecimal.
    static func memorySize(_ size: UInt64) -> String {
        if size != 0 && size & ((1 << 30) - 1) == 0 { return String(size >> 30) + "G" }
        if size != 0 && size & ((1 << 20) - 1) == 0 { return String(size >> 20) + "M" }
        if size != 0 && size & ((1 << 10) - 1) == 0 { return String(size >> 10) + "K" }
        return "0x" + String(size, radix: 16)
    }

    /// Writes the NUL-terminated line into guest memory.
    public func write(to memory: some GuestMemory, at address: GuestAddress) throws(LoaderError) {
        let line = nulTerminated
        guard line.count <= capacity else { throw .commandLineTooLong(length: line.count, limit: capacity) }
        try copy(line, 0..<line.count, to: address, memory: memory)
    }
}
