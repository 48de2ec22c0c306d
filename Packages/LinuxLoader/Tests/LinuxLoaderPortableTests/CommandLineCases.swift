// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import PortableTesting
import VMMemory

private func expectCommandLineError(
    _ expected: CommandLineError, file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws(CommandLineError) -> Void
) throws(TestFailure) {
    try expectThrows(CommandLineError.self, file: file, line: line, matching: { $0 == expected }, body)
}

let commandLineCases: [PortableTestCase] = [
    PortableTestCase("KernelCommandLine", "joins flags and key=value pairs with spaces") { () throws(TestFailure) in
        var line = KernelCommandLine(capacity: 256)
        try expectNoError { () throws(CommandLineError) in
            try line.append("console", "ttyS0")
            try line.append("reboot", "t")
            try line.append(flag: "quiet")
        }
        try expectEqual(line.bytes, utf8("console=ttyS0 reboot=t quiet"))
        try expectEqual(line.nulTerminated.last ?? 1, 0)
    },
    PortableTestCase("KernelCommandLine", "quotes values with spaces and refuses unquotable ones") {
        () throws(TestFailure) in
        var line = KernelCommandLine(capacity: 256)
        try expectNoError { () throws(CommandLineError) in try line.append("init", "/bin/sh -c true") }
        try expectEqual(line.bytes, utf8("init=\"/bin/sh -c true\""))
        try expectCommandLineError(.invalidValue) { () throws(CommandLineError) in try line.append("a", "say \"hi\"") }
        try expectCommandLineError(.invalidValue) { () throws(CommandLineError) in try line.append("a", "x\ny") }
        try expectCommandLineError(.invalidKey) { () throws(CommandLineError) in try line.append("a b", "1") }
        try expectCommandLineError(.invalidKey) { () throws(CommandLineError) in try line.append("a=b", "1") }
        try expectCommandLineError(.invalidKey) { () throws(CommandLineError) in try line.append(flag: "tab\t") }
        try expectCommandLineError(.emptyArgument) { () throws(CommandLineError) in try line.append("", "1") }
        try expectEqual(line.bytes, utf8("init=\"/bin/sh -c true\""), "a refused argument changed the line")
    },
    PortableTestCase("KernelCommandLine", "enforces the capacity including the NUL") { () throws(TestFailure) in
        var line = KernelCommandLine(capacity: 12)
        try expectNoError { () throws(CommandLineError) in try line.append("abc", "12345") }  // 9 bytes + NUL
        try expectCommandLineError(.tooLong(length: 13, capacity: 12)) { () throws(CommandLineError) in
            try line.append(flag: "xy")
        }
        try expectNoError { () throws(CommandLineError) in try line.append(flag: "x") }  // exactly 12 with NUL
        try expectEqual(line.nulTerminated.count, 12)
        try expectCommandLineError(.tooLong(length: 14, capacity: 12)) { () throws(CommandLineError) in
            try line.append(flag: "y")
        }
    },
    PortableTestCase("KernelCommandLine", "formats virtio_mmio.device entries as memparse reads them") {
        () throws(TestFailure) in
        var line = KernelCommandLine()
        try expectNoError { () throws(CommandLineError) in
            try line.appendVirtioMMIODevice(size: 0x1000, base: 0xd000_0000, irq: 5)
            try line.appendVirtioMMIODevice(size: 0x200, base: 0xd000_1000, irq: 6, id: 3)
            try line.appendVirtioMMIODevice(size: 2 << 20, base: 0x1_0000_0000, irq: 12)
        }
        try expectEqual(
            line.bytes,
            utf8(
                "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=0x200@0xd0001000:6:3 virtio_mmio.device=2M@0x100000000:12"
            ))
    },
    PortableTestCase("KernelCommandLine", "writes the terminated line into guest memory") { () throws(TestFailure) in
        var line = KernelCommandLine(capacity: 64)
        try expectNoError { () throws(CommandLineError) in try line.append("console", "ttyS0") }
        let memory = try makeMemory()
        try expectNoError { () throws(LoaderError) in try line.write(to: memory, at: GuestAddress(0x20000)) }
        try expectEqual(try readMemory(memory, 0x20000, 14), utf8("console=ttyS0") + [0])
    },
]

/// LinuxLoader's cases (host and riscv64).
public let allCases: [PortableTestCase] =
    bzImageCases + bootParamsCases + elfCases + elfSymbolCases + imageHeaderCases + commandLineCases
