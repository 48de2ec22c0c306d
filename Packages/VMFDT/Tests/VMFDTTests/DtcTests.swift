// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import PortableTesting
import Testing
import VMFDT
import VMFDTPortableTests

extension PortableTestCase: CustomTestStringConvertible {
    /// "Suite: name", as Swift Testing lists the case.
    public var testDescription: String { "\(suite): \(name)" }
}

@Test(arguments: VMFDTPortableTests.allCases)
func portable(_ testCase: PortableTestCase) throws { try testCase.run() }

/// Decodes blobs with the real `dtc -I dtb -O dts` and checks the source it prints.
@Suite struct DtcTests {
    struct Decoded {
        var source: String
        var errors: String
        var status: Int32
    }

    static func dtc(_ blob: [UInt8]) throws -> Decoded? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/dtc") else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("dtc is missing under CI=true") }
            print("SKIPPED (loudly): dtc is not installed (apt-get install device-tree-compiler)")
            return nil
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vmfdt-\(UUID().uuidString).dtb")
        try Data(blob).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/dtc")
        process.arguments = ["-I", "dtb", "-O", "dts", file.path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let source = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let messages = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Decoded(source: source, errors: messages, status: process.terminationStatus)
    }

    /// The source without leading whitespace on each line, for simple containment checks.
    static func lines(_ source: String) -> [String] {
        source.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    @Test func sampleTreeDecodes() throws {
        var fdt = FDTWriter()
        try fdt.addMemoryReservation(address: 0x8000_0000, size: 0x20_0000)
        let root = try fdt.beginNode("")
        try fdt.property("#address-cells", u32: 2)
        try fdt.property("#size-cells", u32: 2)
        try fdt.property("compatible", strings: ["swift-vmm,test", "linux,dummy-virt"])
        let memory = try fdt.beginNode("memory@80000000")
        try fdt.property("device_type", string: "memory")
        try fdt.property("reg", u64s: [0x8000_0000, 0x1000_0000])
        try fdt.endNode(memory)
        let chosen = try fdt.beginNode("chosen")
        try fdt.property("bootargs", string: "console=ttyS0 earlycon")
        try fdt.property("blob", bytes: [0xde, 0xad, 0xbe])
        try fdt.property("empty")
        try fdt.endNode(chosen)
        try fdt.endNode(root)
        guard let decoded = try Self.dtc(try fdt.finish()) else { return }
        #expect(decoded.status == 0, "dtc failed: \(decoded.errors)")
        #expect(!decoded.errors.contains("ERROR"), "\(decoded.errors)")
        let lines = Self.lines(decoded.source)
        #expect(lines.contains("/memreserve/\t0x0000000080000000 0x0000000000200000;"))
        // dtc 1.6 prints a string list as one string with embedded NULs.
        #expect(lines.contains("compatible = \"swift-vmm,test\\0linux,dummy-virt\";"))
        #expect(lines.contains("memory@80000000 {"))
        #expect(lines.contains("reg = <0x00 0x80000000 0x00 0x10000000>;"))
        #expect(lines.contains("bootargs = \"console=ttyS0 earlycon\";"))
        #expect(lines.contains("blob = [de ad be];"))
        #expect(lines.contains("empty;"))
    }

    @Test func riscvVirtMachineDecodes() throws {
        var machine = RiscVVirtFDT(memorySize: 512 << 20, cpuCount: 2)
        machine.bootArguments = "console=ttyS0 earlycon=sbi"
        machine.virtioDevices = [.init(base: 0x1000_1000, irq: 1), .init(base: 0x1000_2000, irq: 2)]
        guard let decoded = try Self.dtc(try machine.build()) else { return }
        #expect(decoded.status == 0, "dtc failed: \(decoded.errors)")
        #expect(!decoded.errors.contains("ERROR"), "\(decoded.errors)")
        let source = decoded.source
        let lines = Self.lines(source)
        #expect(lines.contains("memory@80000000 {"))
        #expect(lines.contains("reg = <0x00 0x80000000 0x00 0x20000000>;"))
        #expect(lines.contains("cpu@0 {") && lines.contains("cpu@1 {"))
        #expect(lines.filter { $0 == "riscv,isa = \"rv64imafdc_zicsr_zifencei\";" }.count == 2)
        #expect(lines.filter { $0 == "compatible = \"riscv,cpu-intc\";" }.count == 2)
        #expect(lines.contains("timebase-frequency = <0x989680>;"))
        #expect(lines.contains("compatible = \"sifive,plic-1.0.0\\0riscv,plic0\";"))
        #expect(lines.contains("interrupts-extended = <0x01 0x0b 0x01 0x09 0x02 0x0b 0x02 0x09>;"))
        #expect(lines.contains("riscv,ndev = <0x5f>;"))
        #expect(lines.contains("serial@10000000 {"))
        #expect(lines.contains("compatible = \"ns16550a\";"))
        #expect(lines.contains("interrupt-parent = <0x03>;"))
        #expect(lines.contains("virtio_mmio@10002000 {"))
        #expect(lines.filter { $0 == "compatible = \"virtio,mmio\";" }.count == 2)
        #expect(lines.contains("stdout-path = \"/soc/serial@10000000\";"))
        #expect(lines.contains("bootargs = \"console=ttyS0 earlycon=sbi\";"))
        // dtc's own checks (interrupt providers, phandle references, unit addresses) found nothing.
        #expect(!decoded.errors.contains("Warning"), "\(decoded.errors)")
    }
}
